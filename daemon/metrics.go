package daemon

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mptcpkit/mptcpkit/pm"
	"github.com/mptcpkit/mptcpkit/sockdiag"
)

// DefaultMetricsAddr is where `mptcpkit daemon` serves metrics by default.
const DefaultMetricsAddr = "127.0.0.1:9808"

// Metrics are a daemon's Prometheus metrics. WriteText writes them in the
// text exposition format; Config.Metrics lets a caller (a test) read them
// without an HTTP server.
type Metrics struct {
	families         []*family
	reconciles       metric
	reconcileErrors  metric
	reconcileSeconds histogram
	changes          vec
	reloads          vec
	netlink          vec
	events           vec
	eventsLost       metric
	endpoints        vec
	owned            metric
	info             vec

	mu sync.Mutex
	d  *daemon // set by Run; read at scrape for the namespace's connections and counters
}

// NewMetrics returns the daemon's metrics, all zero.
func NewMetrics() *Metrics {
	m := &Metrics{}
	add := func(f *family) *family { m.families = append(m.families, f); return f }
	m.reconciles = scalar(add(newFamily("mptcpkit_daemon_reconciles_total", "counter",
		"Reconciles of the endpoint table (at start, on network changes, periodically).")))
	m.reconcileErrors = scalar(add(newFamily("mptcpkit_daemon_reconcile_errors_total", "counter",
		"Reconciles or path-manager operations that failed.")))
	m.reconcileSeconds = newHistogram("mptcpkit_daemon_reconcile_seconds", "Time one reconcile takes.", exponentialBuckets(0.0005, 2, 12))
	add(m.reconcileSeconds.f)
	m.changes = vec{add(newFamily("mptcpkit_daemon_endpoint_changes_total", "counter",
		"Changes made: add, delete, change (flags), subflow_create (userspace PM).", "action"))}
	m.reloads = vec{add(newFamily("mptcpkit_daemon_policy_reloads_total", "counter",
		"Policy reloads (SIGHUP) by result.", "result"))}
	m.netlink = vec{add(newFamily("mptcpkit_daemon_netlink_notifications_total", "counter",
		"rtnetlink notifications seen, by kind (link, addr, route, resync).", "kind"))}
	m.events = vec{add(newFamily("mptcpkit_daemon_pm_events_total", "counter",
		"MPTCP path-manager events, by type (CREATED, ESTABLISHED, SUB_ESTABLISHED, ...).", "type"))}
	m.eventsLost = scalar(add(newFamily("mptcpkit_daemon_pm_events_lost_total", "counter",
		"Times the kernel dropped path-manager events because the daemon fell behind.")))
	m.endpoints = vec{add(newFamily("mptcpkit_endpoints", "gauge",
		"Endpoints in the kernel's table by flag (an endpoint counts once per flag; flag=\"all\" counts each once).", "flag"))}
	m.owned = scalar(add(newFamily("mptcpkit_daemon_owned_endpoints", "gauge",
		"Endpoints the daemon added and manages.")))
	m.info = vec{add(newFamily("mptcpkit_daemon_info", "gauge",
		"1, labelled with the path manager in use (kernel or userspace) and the namespace managed.", "path_manager", "netns"))}
	return m
}

// Value returns the value of a counter or gauge series by name and label
// values, and whether it exists.
func (m *Metrics) Value(name string, labelValues ...string) (float64, bool) {
	for _, f := range m.families {
		if f.name == name && f.typ != "histogram" && len(f.labels) == len(labelValues) {
			return metric{f: f, values: labelValues}.value()
		}
	}
	return 0, false
}

func (m *Metrics) attach(d *daemon) {
	m.mu.Lock()
	m.d = d
	m.mu.Unlock()
}

func (m *Metrics) netlinkEvent(kind string) { m.netlink.WithLabelValues(kind).Inc() }

func (m *Metrics) setEndpoints(kernel []pm.Endpoint, owned int) {
	counts := map[string]int{"all": len(kernel), "signal": 0, "subflow": 0, "backup": 0, "fullmesh": 0, "laminar": 0, "implicit": 0}
	for _, k := range kernel {
		for _, f := range []pm.Flags{pm.FlagSignal, pm.FlagSubflow, pm.FlagBackup, pm.FlagFullmesh, pm.FlagLaminar, pm.FlagImplicit} {
			if k.Flags&f != 0 {
				counts[f.String()]++
			}
		}
	}
	for k, v := range counts {
		m.endpoints.WithLabelValues(k).Set(float64(v))
	}
	m.owned.Set(float64(owned))
}

func (m *Metrics) event(ev pm.Event) { m.events.WithLabelValues(ev.Type.String()).Inc() }

// WriteText writes every metric in the Prometheus text format (0.0.4),
// reading the namespace's MPTCP connections (sock_diag) and MPTcpExt
// counters at the time of the call when the metrics belong to a running
// daemon.
func (m *Metrics) WriteText(w io.Writer) error {
	t := newTextWriter(w)
	for _, f := range m.families {
		t.family(f)
	}
	m.mu.Lock()
	d := m.d
	m.mu.Unlock()
	if d != nil {
		d.writeConns(t)
		d.writeNetstat(t)
		d.writePaths(t)
	}
	return t.flush()
}

// ContentType is the media type of WriteText's output.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// writeConns counts MPTCP connections and their subflows in the managed
// namespace over sock_diag.
func (d *daemon) writeConns(t *textWriter) {
	const (
		connsName    = "mptcpkit_mptcp_connections"
		subflowsName = "mptcpkit_mptcp_subflows"
	)
	t.header(connsName, "gauge", "MPTCP connections in the namespace (sock_diag), by whether they fell back to TCP.")
	conns, err := d.connections()
	if err != nil {
		t.comment("cannot list connections: " + err.Error())
		return
	}
	var active, fallback, subflows int
	for i := range conns {
		if conns[i].Fallback() {
			fallback++
		} else {
			active++
		}
		subflows += len(conns[i].Subflows)
	}
	t.sample(connsName, []string{"fallback"}, []string{"false"}, float64(active))
	t.sample(connsName, []string{"fallback"}, []string{"true"}, float64(fallback))
	t.header(subflowsName, "gauge", "TCP subflows of the namespace's MPTCP connections (sock_diag).")
	t.sample(subflowsName, nil, nil, float64(subflows))
}

func (d *daemon) connections() ([]sockdiag.Connection, error) {
	sd, err := sockdiag.Dial(&sockdiag.Config{NetNS: d.cfg.NetNS})
	if err != nil {
		return nil, err
	}
	defer sd.Close()
	return sd.Connections()
}

// writeNetstat reads the MPTcpExt counters inside the managed namespace.
func (d *daemon) writeNetstat(t *textWriter) {
	const name = "mptcpkit_mptcpext_total"
	t.header(name, "counter", "MPTCP MIB counters of the namespace (/proc/net/netstat MPTcpExt).")
	var b []byte
	err := d.inNS(func() (err error) {
		b, err = os.ReadFile("/proc/thread-self/net/netstat")
		return err
	})
	if err != nil {
		t.comment("cannot read /proc/net/netstat: " + err.Error())
		return
	}
	counters, err := ParseMPTcpExt(b)
	if err != nil {
		t.comment(err.Error())
		return
	}
	names := make([]string, 0, len(counters))
	for n := range counters {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.sample(name, []string{"counter"}, []string{n}, float64(counters[n]))
	}
}

// writePaths writes the paths as last measured (policy [quality] or the
// status page on; nothing otherwise).
func (d *daemon) writePaths(t *textWriter) {
	q := d.quality.snapshot()
	l := []string{"address", "link"}
	for _, m := range []struct {
		name, help string
		v          func(p PathQuality) float64
	}{
		{"mptcpkit_path_rtt_seconds", "Mean smoothed RTT of the path's subflows (path selection's measurement).", func(p PathQuality) float64 { return p.RTT.Seconds() }},
		{"mptcpkit_path_loss_ratio", "Retransmitted share of the segments the path's subflows sent in the last interval.", func(p PathQuality) float64 { return p.Loss / 100 }},
		{"mptcpkit_path_transmit_bits_per_second", "Bytes acknowledged on the path's subflows in the last interval, in bits per second.", func(p PathQuality) float64 { return p.TxBps }},
		{"mptcpkit_path_receive_bits_per_second", "Bytes received on the path's subflows in the last interval, in bits per second.", func(p PathQuality) float64 { return p.RxBps }},
		{"mptcpkit_path_backup", "1 when path selection made the path backup ([quality] backup_when).", func(p PathQuality) float64 {
			if p.Backup {
				return 1
			}
			return 0
		}},
	} {
		t.header(m.name, "gauge", m.help)
		for _, p := range q.Paths {
			t.sample(m.name, l, []string{p.Addr.String(), p.Link}, m.v(p))
		}
	}
}

// ParseMPTcpExt returns the MPTcpExt counters of a /proc/net/netstat file.
func ParseMPTcpExt(b []byte) (map[string]uint64, error) {
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MPTcpExt:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if names == nil {
			names = fields
			continue
		}
		if len(fields) != len(names) {
			return nil, fmt.Errorf("netstat: MPTcpExt has %d names but %d values", len(names), len(fields))
		}
		out := make(map[string]uint64, len(names))
		for i, f := range fields {
			v, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("netstat: MPTcpExt %s: %w", names[i], err)
			}
			out[names[i]] = v
		}
		return out, nil
	}
	return nil, errors.New("netstat: no MPTcpExt lines (kernel without MPTCP?)")
}

// serve starts the metrics HTTP server; stop shuts it down.
func (m *Metrics) serve(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w (choose another with --metrics ADDR, or --metrics '' to turn them off)", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		m.WriteText(w)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "mptcpkit daemon: metrics at /metrics")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}, nil
}
