package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/mptcpkit/mptcpkit/internal/proc"
	"github.com/mptcpkit/mptcpkit/netmon"
	"github.com/mptcpkit/mptcpkit/netns"
	"github.com/mptcpkit/mptcpkit/pm"
	"github.com/mptcpkit/mptcpkit/policy"
)

// PathManager is what the daemon needs of a *pm.Client (an interface so
// tests can inject failures).
type PathManager interface {
	Endpoints() ([]pm.Endpoint, error)
	AddEndpoint(e pm.Endpoint) error
	DeleteEndpoint(id uint8, addr netip.Addr) error
	// ChangeEndpoint selects by address and port (or by id), as
	// pm.Client.ChangeEndpoint: an endpoint that has a port is found by
	// address only together with it.
	ChangeEndpoint(sel pm.Endpoint, flags pm.Flags) error
	Limits() (pm.Limits, error)
	SetLimits(u pm.LimitsUpdate) error
}

// Config configures Run.
type Config struct {
	// NetNS is an open file descriptor of the network namespace to manage;
	// 0 means the caller's. Run does not close it.
	NetNS int
	// Policy to apply; nil means policy.Default().
	Policy *policy.Policy
	// PolicyPath, if set, is re-read on Reload. A bad file keeps the
	// running policy.
	PolicyPath string
	// NetNSName names NetNS as the user knows it (`ip netns` name), so the
	// fixes the daemon logs act in that namespace ("ip netns exec NAME
	// sysctl -w ..."), not host-wide; empty with NetNS 0.
	NetNSName string
	// StatePath is the state file (if empty: StatePathFor the namespace,
	// so daemons in different namespaces never share one).
	StatePath string
	// Logger; nil discards.
	Logger *slog.Logger
	// Reload triggers a policy reload (SIGHUP).
	Reload <-chan struct{}
	// Coexist: run alongside NetworkManager/mptcpd (also policy.Coexist).
	Coexist bool
	// Debounce delays the reconcile after a network change to coalesce a
	// burst (default 0: reconcile at once; changes that arrive during a
	// reconcile are coalesced into one more). Flaps are damped by the
	// policy's [damping] hold-down, not by this delay.
	Debounce time.Duration
	// Interval between safety-net reconciles (default 30 s).
	Interval time.Duration
	// MetricsAddr, if set, serves Prometheus metrics at http://ADDR/metrics.
	MetricsAddr string
	// HTTPAddr, if set, serves the live status page at http://ADDR/ (and
	// its data). A port alone (":8080" or "8080") means loopback.
	HTTPAddr string
	// Metrics receives the daemon's metrics (default: new ones, served on
	// MetricsAddr).
	Metrics *Metrics
	// Monitor replaces the rtnetlink watcher (tests); Run closes it.
	Monitor netmon.Monitor
	// PM replaces the path-manager client (tests).
	PM PathManager
	// Conflicts replaces the detection of other endpoint managers (tests).
	Conflicts func() ([]Conflict, error)
	// OnReconcile, if set, is called after every reconcile with the
	// state written (tests, status).
	OnReconcile func(*StateFile)
	// OnQuality, if set, is called after every measurement of the paths
	// (policy [quality], or the status page) with what was measured.
	OnQuality func(Quality)
}

// ErrConflict is wrapped by Run's error when another manager of MPTCP
// endpoints runs in the namespace and Coexist is not set.
var ErrConflict = errors.New("another MPTCP endpoint manager is running")

// Run manages the namespace's endpoints until ctx is done, then removes the
// endpoints it added (unless the policy says remove_on_exit = false).
func Run(ctx context.Context, cfg Config) (err error) {
	d, err := newDaemon(cfg)
	if err != nil {
		return err
	}
	defer d.close()
	return d.run(ctx)
}

type daemon struct {
	cfg      Config
	log      *slog.Logger
	ns       *netns.NetNS
	nsID     string
	pol      *policy.Policy
	pm       PathManager
	pmClient *pm.Client
	mon      netmon.Monitor
	metrics  *Metrics
	avoid    map[string]string
	mode     string
	owned    map[netip.Addr]*OwnedEndpoint
	leftOut  string // last left-out message, logged on change
	closers  []func()
	lastErr  string
	kernel   []KernelEndpoint // the whole table as last read
	flaps    flaps
	quality  *quality
	status   *statusHub            // nil unless the status page is served
	links    map[netip.Addr]string // local address -> link name, as last reconciled
	polBkup  map[netip.Addr]bool   // addresses the policy itself makes backup
	// backupWarned: demoted addresses already warned about subflows the
	// kernel did not mark backup.
	backupWarned map[netip.Addr]bool
	// backupResent: when the daemon last re-sent a demoted endpoint's
	// backup flag for subflows the kernel left active.
	backupResent map[netip.Addr]time.Time
	// backupPending: when a subflow on a demoted path was first seen
	// still active (token, local, remote).
	backupPending map[string]time.Time
	// backupRx: intervals in a row a backup subflow received data.
	backupRx map[string]int
}

func newDaemon(cfg Config) (*daemon, error) {
	d := &daemon{cfg: cfg, log: cfg.Logger, pol: cfg.Policy, owned: map[netip.Addr]*OwnedEndpoint{}, quality: newQuality()}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.pol == nil {
		d.pol = policy.Default()
	}
	if d.cfg.Interval <= 0 {
		d.cfg.Interval = 30 * time.Second
	}
	ok := false
	defer func() {
		if !ok {
			d.close()
		}
	}()
	var err error
	if cfg.NetNS > 0 {
		d.ns, err = netns.FromFD(cfg.NetNS)
	} else {
		d.ns, err = netns.Current()
	}
	if err != nil {
		return nil, fmt.Errorf("daemon: namespace: %w", err)
	}
	d.closers = append(d.closers, func() { d.ns.Close() })
	d.nsID = nsIdentity(d.ns.FD())
	if d.cfg.StatePath == "" {
		if d.cfg.StatePath, err = StatePathFor(d.ns.FD()); err != nil {
			return nil, fmt.Errorf("daemon: %w", err)
		}
	}

	d.mode = "kernel"
	if pmName, err := d.sysctl("net/mptcp/path_manager"); err == nil && pmName == "userspace" {
		d.mode = "userspace"
	} else if t, err := d.sysctl("net/mptcp/pm_type"); err == nil && t == "1" {
		d.mode = "userspace"
	}

	d.metrics = cfg.Metrics
	if d.metrics == nil {
		d.metrics = NewMetrics()
	}
	d.metrics.attach(d)
	d.closers = append(d.closers, func() { d.metrics.attach(nil) })

	d.pm = cfg.PM
	if d.pm == nil {
		c, err := pm.Dial(&pm.Config{NetNS: d.cfg.NetNS})
		if err != nil {
			return nil, fmt.Errorf("daemon: %w", err)
		}
		d.pmClient = c
		d.pm = c
		d.closers = append(d.closers, func() { c.Close() })
	}
	d.mon = cfg.Monitor
	if d.mon == nil {
		m, err := netmon.New(netmon.Config{NetNS: d.cfg.NetNS, Logger: d.log, OnEvent: d.metrics.netlinkEvent})
		if err != nil {
			return nil, fmt.Errorf("daemon: %w", err)
		}
		d.mon = m
	}
	mon := d.mon
	d.closers = append(d.closers, func() { mon.Close() })
	ok = true
	return d, nil
}

func (d *daemon) close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
	d.closers = nil
}

func nsIdentity(fd int) string {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return ""
	}
	return fmt.Sprintf("net:[%d]", st.Ino)
}

// inNS runs fn inside the managed namespace. In the daemon's own namespace
// it runs fn directly: entering a namespace (setns) needs CAP_SYS_ADMIN,
// which the systemd unit does not grant.
func (d *daemon) inNS(fn func() error) error {
	if d.cfg.NetNS <= 0 {
		return fn()
	}
	return d.ns.Do(fn)
}

func (d *daemon) sysctl(key string) (string, error) {
	var b []byte
	err := d.inNS(func() (err error) {
		b, err = os.ReadFile(filepath.Join("/proc/sys", key))
		return err
	})
	return strings.TrimSpace(string(b)), err
}

func (d *daemon) run(ctx context.Context) error {
	coexist := d.cfg.Coexist || d.pol.Coexist
	conflicts, err := d.conflicts()
	if err != nil {
		d.log.Warn("could not check for other endpoint managers", "err", err)
	}
	if len(conflicts) > 0 {
		for _, c := range conflicts {
			d.log.Warn("another MPTCP endpoint manager is running", "manager", c.Manager, "detail", c.Detail, "interfaces", c.Interfaces)
		}
		if !coexist {
			var names []string
			for _, c := range conflicts {
				names = append(names, c.Manager+" ("+c.Detail+")")
			}
			return fmt.Errorf("%w: %s; two managers fight over the endpoint table: stop it, or run with --coexist (or coexist = true) to stay off its interfaces", ErrConflict, strings.Join(names, ", "))
		}
		d.avoid = map[string]string{}
		for _, c := range conflicts {
			for _, ifc := range c.Interfaces {
				d.avoid[ifc] = c.Manager
			}
		}
	}
	d.log.Info("daemon starting", "netns", d.nsID, "mode", d.mode, "policy", d.pol.Source, "owner", d.pol.Owner, "state", d.cfg.StatePath)
	if v, err := d.sysctl("net/mptcp/enabled"); err == nil && v == "0" {
		d.log.Warn("net.mptcp.enabled = 0 in this namespace: endpoints are kept in line but no MPTCP connection will be made", "fix", sysctlFix(d.cfg.NetNSName, "net.mptcp.enabled=1"))
	}
	d.metrics.info.WithLabelValues(d.mode, d.nsID).Set(1)
	if err := d.loadState(); err != nil {
		return err
	}

	if d.cfg.MetricsAddr != "" {
		stop, err := d.metrics.serve(d.cfg.MetricsAddr, d.log)
		if err != nil {
			return err
		}
		defer stop()
	}
	if d.cfg.HTTPAddr != "" {
		addr, err := StatusAddr(d.cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("daemon: %w", err)
		}
		d.status = newStatusHub()
		_, stop, err := d.serveStatus(addr, statusReadTimeout)
		if err != nil {
			return err
		}
		defer stop()
	}

	var us *userspacePM
	if d.mode == "userspace" {
		us = newUserspacePM(d)
		done := make(chan struct{})
		uctx, cancel := context.WithCancel(ctx)
		go func() { defer close(done); us.run(uctx) }()
		defer func() { cancel(); <-done }()
	} else {
		evctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); d.countEvents(evctx) }()
		defer func() { cancel(); <-done }()
	}

	d.reconcile(us)
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	armed := false
	// holdEnd fires when a flapping link's hold-down ends.
	holdEnd := time.NewTimer(time.Hour)
	holdEnd.Stop()
	rearm := func() {
		if t := d.flaps.next(time.Now()); !t.IsZero() {
			holdEnd.Reset(time.Until(t) + time.Millisecond)
		}
	}
	rearm()
	// measure samples the paths' quality (policy [quality], status page).
	measure := time.NewTicker(d.measureInterval())
	defer measure.Stop()
	tick := time.NewTicker(d.cfg.Interval)
	defer tick.Stop()
	changes := d.mon.Changes()
	for {
		select {
		case <-ctx.Done():
			return d.shutdown()
		case _, ok := <-changes:
			if !ok {
				d.shutdown()
				return errors.New("daemon: network monitor stopped")
			}
			if d.cfg.Debounce <= 0 {
				d.reconcile(us)
				rearm()
			} else if !armed {
				armed = true
				debounce.Reset(d.cfg.Debounce)
			}
		case <-debounce.C:
			armed = false
			d.reconcile(us)
			rearm()
		case <-holdEnd.C:
			d.reconcile(us)
			rearm()
		case <-tick.C:
			d.reconcile(us)
			rearm()
		case <-measure.C:
			if d.measureQuality(us) {
				d.reconcile(us)
				rearm()
			}
		case <-d.cfg.Reload:
			d.reload()
			measure.Reset(d.measureInterval())
			d.reconcile(us)
			rearm()
		}
	}
}

func (d *daemon) reload() {
	if d.cfg.PolicyPath == "" {
		d.log.Info("reload: no policy file; keeping the default policy")
		return
	}
	p, err := policy.Load(d.cfg.PolicyPath)
	if err != nil {
		d.metrics.reloads.WithLabelValues("error").Inc()
		d.log.Error("reload: new policy is invalid; keeping the running one", "file", d.cfg.PolicyPath, "err", err)
		return
	}
	d.metrics.reloads.WithLabelValues("ok").Inc()
	d.pol = p
	d.log.Info("reload: policy loaded", "file", d.cfg.PolicyPath, "rules", len(p.Rules))
}

// loadState adopts what a previous run owned, as far as it still exists.
func (d *daemon) loadState() error {
	s, err := readStateIfAny(d.cfg.StatePath)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	if s == nil {
		return nil
	}
	if s.PID != os.Getpid() && s.PID > 0 && processAlive(s.PID) {
		if comm, _ := proc.Comm(s.PID); comm == "mptcpkit" {
			return fmt.Errorf("daemon: another mptcpkit daemon (pid %d, netns %s) uses state file %s; stop it or give this one a different --state", s.PID, s.NetNS, d.cfg.StatePath)
		}
	}
	if s.NetNS != d.nsID {
		d.log.Warn("state file belongs to another network namespace; starting with nothing owned", "state", d.cfg.StatePath, "its_netns", s.NetNS, "netns", d.nsID)
		return nil
	}
	for _, e := range s.Endpoints {
		e := e
		d.owned[e.Addr] = &e
	}
	d.log.Info("remembered endpoints from the previous run", "count", len(s.Endpoints))
	return nil
}

func processAlive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

// shutdown removes owned endpoints if the policy says so.
func (d *daemon) shutdown() error {
	if !d.pol.RemoveOnExit {
		d.log.Info("exiting; leaving endpoints in place (remove_on_exit = false)", "owned", len(d.owned))
		d.saveState(nil, nil)
		return nil
	}
	var errs []error
	for _, e := range d.sortedOwned() {
		if err := d.pm.DeleteEndpoint(e.ID, e.Addr); err != nil && !errors.Is(err, os.ErrNotExist) && !isErrno(err, syscall.EINVAL) {
			errs = append(errs, fmt.Errorf("delete endpoint %s (id %d): %w", e.Addr, e.ID, err))
			continue
		}
		delete(d.owned, e.Addr)
	}
	d.log.Info("exiting; removed the endpoints the daemon added", "left", len(d.owned))
	d.saveState(nil, nil)
	return errors.Join(errs...)
}

func isErrno(err error, no syscall.Errno) bool { return errors.Is(err, no) }

func (d *daemon) sortedOwned() []*OwnedEndpoint {
	var out []*OwnedEndpoint
	for _, e := range d.owned {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr.Less(out[j].Addr) })
	return out
}

func (d *daemon) saveState(ds []Decision, limits *pm.Limits) *StateFile {
	s := &StateFile{
		Version: 1, PID: os.Getpid(), NetNS: d.nsID, Mode: d.mode, Policy: d.pol.Source,
		Updated: time.Now().UTC().Truncate(time.Millisecond), Decisions: ds, Limits: limits, LastError: d.lastErr,
		Damping: d.flaps.report(d.pol.Damping, time.Now()),
		Paths:   d.quality.snapshot().Paths,
	}
	for _, e := range d.sortedOwned() {
		s.Endpoints = append(s.Endpoints, *e)
	}
	if d.mode == "kernel" && ds != nil {
		s.Kernel = append([]KernelEndpoint{}, d.kernel...)
	}
	if s.Endpoints == nil {
		s.Endpoints = []OwnedEndpoint{}
	}
	for _, x := range ds {
		if !x.In && strings.HasPrefix(x.Reason, "left out") {
			s.LeftOut = append(s.LeftOut, x.Addr.String())
		}
	}
	if d.status != nil {
		d.status.setState(s)
	}
	if err := writeState(d.cfg.StatePath, s); err != nil {
		d.log.Error("cannot write the state file; a restart may not know which endpoints are ours", "state", d.cfg.StatePath, "err", err)
	}
	return s
}

// statusOn reports whether the status page is served.
func (d *daemon) statusOn() bool { return d.cfg.HTTPAddr != "" }

func (d *daemon) measureInterval() time.Duration {
	if iv := time.Duration(d.pol.Quality.Interval); iv > 0 {
		return iv
	}
	return time.Duration(policy.DefaultQuality.Interval)
}

// sysctlFix is the command that sets setting (KEY=VALUE) in the namespace
// the daemon manages: "ip netns exec NETNS sysctl -w ..." when it runs in
// a named namespace, a host-wide "sysctl -w ..." only when it runs in the
// caller's.
func sysctlFix(netns, setting string) string {
	if netns != "" {
		return "ip netns exec " + netns + " sysctl -w " + setting
	}
	return "sysctl -w " + setting
}
