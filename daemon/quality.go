package daemon

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mptcpkit/mptcpkit/pm"
	"github.com/mptcpkit/mptcpkit/policy"
	"github.com/mptcpkit/mptcpkit/sockdiag"
)

// PathQuality is one path (a local address carrying subflows) as the
// daemon measured it over the last interval, and what path selection made
// of it.
type PathQuality struct {
	Addr     netip.Addr    `json:"address"`
	Link     string        `json:"link,omitempty"`
	Subflows int           `json:"subflows"`
	RTT      time.Duration `json:"-"`            // mean smoothed RTT of its subflows; JSON: rtt_us
	Loss     float64       `json:"loss_percent"` // retransmitted / sent segments, last interval
	Rate     float64       `json:"rate_bps"`     // delivery rate reported by TCP, summed
	TxBps    float64       `json:"tx_bps"`       // bytes acknowledged per second ×8
	RxBps    float64       `json:"rx_bps"`       // bytes received per second ×8
	Backup   bool          `json:"backup"`       // made backup by path selection
	Since    time.Time     `json:"since,omitzero"`
	Why      string        `json:"why,omitempty"`
	// RestoreAt is when a demoted path is tried as active again.
	RestoreAt time.Time `json:"restore_at,omitzero"`
}

// SubflowQuality is one subflow's throughput in the last interval.
type SubflowQuality struct {
	Token  uint32        `json:"-"` // JSON: 8 hex digits, like conns and monitor
	Local  string        `json:"local"`
	Remote string        `json:"remote"`
	RTT    time.Duration `json:"-"` // JSON: rtt_us
	TxBps  float64       `json:"tx_bps"`
	RxBps  float64       `json:"rx_bps"`
	Backup bool          `json:"backup"`
}

// Quality is a snapshot of the measurements (Config.OnQuality, the status
// page).
type Quality struct {
	Time     time.Time        `json:"time"`
	Interval time.Duration    `json:"-"` // JSON: interval_us
	Paths    []PathQuality    `json:"paths"`
	Subflows []SubflowQuality `json:"subflows"`
}

// sample is one interval of one path.
type sample struct {
	at              time.Time
	segs, retrans   uint64
	rttSum          time.Duration
	rttN            int
	bytes           uint64 // acked + received
	dur             time.Duration
	deliveryRateBps float64
}

type pathState struct {
	addr       netip.Addr
	samples    []sample // oldest first, since the path was last (re)activated
	backup     bool
	since      time.Time
	why        string
	restoreAt  time.Time
	restoreFor time.Duration // current back-off
	promotedAt time.Time
}

type subflowPrev struct {
	segs, retrans, acked, received uint64
	seen                           bool
}

// quality measures paths from their subflows' tcp_info (sock_diag) and
// decides which to make backup (policy [quality]).
type quality struct {
	mu    sync.Mutex
	paths map[netip.Addr]*pathState
	prev  map[uint64]subflowPrev // by socket cookie
	last  time.Time
	snap  Quality
}

func newQuality() *quality {
	return &quality{paths: map[netip.Addr]*pathState{}, prev: map[uint64]subflowPrev{}}
}

// demoted returns the addresses path selection made backup, with why.
func (q *quality) demoted() map[netip.Addr]string {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := map[netip.Addr]string{}
	for a, p := range q.paths {
		if p.backup {
			out[a] = p.why
		}
	}
	return out
}

func (q *quality) snapshot() Quality {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.snap
	s.Paths = append([]PathQuality(nil), s.Paths...)
	s.Subflows = append([]SubflowQuality(nil), s.Subflows...)
	return s
}

// measure takes one interval's measurements from the connections and
// decides; it returns true when a path's backup state changed. links maps
// local addresses to interface names (for display); policyBackup are
// addresses the policy itself makes backup (never counted as active).
func (q *quality) measure(conns []sockdiag.Connection, now time.Time, pol policy.Quality, links map[netip.Addr]string, policyBackup map[netip.Addr]bool) (changed bool, events []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	dur := now.Sub(q.last)
	first := q.last.IsZero()
	q.last = now
	type agg struct {
		sample
		subflows int
		// every subflow's smoothed RTT, for display; sample.rtt* only
		// counts subflows that had data acknowledged in the interval
		showRTT  time.Duration
		showRTTN int
	}
	per := map[netip.Addr]*agg{}
	seen := map[uint64]bool{}
	var sfs []SubflowQuality
	for i := range conns {
		c := &conns[i]
		if c.Fallback() {
			continue
		}
		for j := range c.Subflows {
			sf := &c.Subflows[j]
			if sf.TCP == nil || sf.State != 1 { // established
				continue
			}
			a := sf.Local.Addr()
			g := per[a]
			if g == nil {
				g = &agg{sample: sample{at: now, dur: dur}}
				per[a] = g
			}
			g.subflows++
			g.showRTT += sf.TCP.RTT
			g.showRTTN++
			g.deliveryRateBps += float64(sf.TCP.DeliveryRate) * 8
			seen[sf.Cookie] = true
			cur := subflowPrev{segs: uint64(sf.TCP.SegsOut), retrans: uint64(sf.TCP.TotalRetrans), acked: sf.TCP.BytesAcked, received: sf.TCP.BytesReceived, seen: true}
			p := q.prev[sf.Cookie]
			q.prev[sf.Cookie] = cur
			sq := SubflowQuality{Token: c.Token(), Local: sf.Local.String(), Remote: sf.Remote.String(), RTT: sf.TCP.RTT,
				Backup: sf.MPTCP != nil && sf.MPTCP.Backup()}
			if p.seen && !first && dur > 0 {
				g.segs += cur.segs - min(p.segs, cur.segs)
				g.retrans += cur.retrans - min(p.retrans, cur.retrans)
				tx := cur.acked - min(p.acked, cur.acked)
				rx := cur.received - min(p.received, cur.received)
				g.bytes += tx + rx
				// tcp_info's RTT is a smoothed estimate the kernel updates
				// only when data is acknowledged: a subflow idle in the
				// interval (a backup one, or a path just tried again after
				// an impairment) still reports the RTT of its last busy
				// period, possibly the impaired one. Count it only when it
				// measured something now.
				if tx > 0 {
					g.rttSum += sf.TCP.RTT
					g.rttN++
				}
				sq.TxBps = float64(tx) * 8 / dur.Seconds()
				sq.RxBps = float64(rx) * 8 / dur.Seconds()
			}
			sfs = append(sfs, sq)
		}
	}
	for k := range q.prev {
		if !seen[k] {
			delete(q.prev, k)
		}
	}
	sort.Slice(sfs, func(i, j int) bool {
		if sfs[i].Token != sfs[j].Token {
			return sfs[i].Token < sfs[j].Token
		}
		return sfs[i].Local < sfs[j].Local
	})

	keep := max(maxFor(pol.BackupWhen), 2*time.Duration(pol.Interval))
	for a, g := range per {
		ps := q.paths[a]
		if ps == nil {
			ps = &pathState{addr: a, restoreFor: time.Duration(pol.RestoreAfter)}
			q.paths[a] = ps
		}
		if !first {
			ps.samples = append(ps.samples, g.sample)
		}
		// Keep what the longest clause needs, plus one interval.
		for len(ps.samples) > 1 && now.Sub(ps.samples[1].at.Add(-ps.samples[1].dur)) >= keep {
			ps.samples = ps.samples[1:]
		}
	}
	for a, ps := range q.paths {
		if per[a] == nil && !ps.backup {
			delete(q.paths, a) // no subflows any more
		}
	}

	snapPaths := func() {
		q.snap = Quality{Time: now, Interval: dur, Subflows: sfs}
		for a, ps := range q.paths {
			pq := PathQuality{Addr: a, Link: links[a], Backup: ps.backup, Why: ps.why, RestoreAt: ps.restoreAt}
			if ps.backup {
				pq.Since = ps.since
			}
			if g := per[a]; g != nil {
				pq.Subflows = g.subflows
				if g.showRTTN > 0 {
					pq.RTT = g.showRTT / time.Duration(g.showRTTN)
				}
				if g.segs > 0 {
					pq.Loss = 100 * float64(g.retrans) / float64(g.segs)
				}
				pq.Rate = g.deliveryRateBps
			}
			for _, s := range sfs {
				if ap, err := netip.ParseAddrPort(s.Local); err == nil && ap.Addr() == a {
					pq.TxBps += s.TxBps
					pq.RxBps += s.RxBps
				}
			}
			q.snap.Paths = append(q.snap.Paths, pq)
		}
		sort.Slice(q.snap.Paths, func(i, j int) bool { return q.snap.Paths[i].Addr.Less(q.snap.Paths[j].Addr) })
	}
	if !pol.Enabled() {
		// Off (or turned off by a reload): nothing stays demoted.
		for _, ps := range q.paths {
			if ps.backup {
				ps.backup, ps.why, ps.restoreAt = false, "", time.Time{}
				changed = true
				events = append(events, fmt.Sprintf("%s: active again (path selection is off)", ps.addr))
			}
		}
		snapPaths()
		return changed, events
	}

	// Decide. Demoted paths are tried again (promoted on trial) after
	// their back-off; a path demoted again soon after a trial doubles it.
	for _, ps := range q.paths {
		if ps.backup && !now.Before(ps.restoreAt) {
			ps.backup, ps.why, ps.restoreAt = false, "", time.Time{}
			ps.samples = nil
			ps.promotedAt = now
			changed = true
			events = append(events, fmt.Sprintf("%s: trying it as an active path again after %v as backup", ps.addr, ps.restoreFor))
		}
	}
	type cand struct {
		ps  *pathState
		why string
	}
	var meets []cand
	for _, ps := range q.paths {
		if ps.backup {
			continue
		}
		if why := evaluate(pol.BackupWhen, ps.samples, now); why != "" {
			meets = append(meets, cand{ps, why})
		}
	}
	// Never leave no active path: unless another active path does not
	// meet the condition (an idle one counts: its subflows are up), the
	// best of those that meet it (by `prefer`) stays active. A path on
	// trial, promoted less than the condition's window ago, counts as
	// neither.
	healthy := false
	for a, ps := range q.paths {
		if ps.backup || policyBackup[a] {
			continue
		}
		onTrial := !ps.promotedAt.IsZero() && now.Sub(ps.promotedAt) < maxFor(pol.BackupWhen)
		if !onTrial && evaluate(pol.BackupWhen, ps.samples, now) == "" {
			healthy = true
		}
	}
	if !healthy && len(meets) > 0 {
		sort.Slice(meets, func(i, j int) bool {
			return better(pol.Prefer, meets[i].ps.samples, meets[j].ps.samples)
		})
		meets = meets[1:]
	}
	for _, m := range meets {
		ps := m.ps
		if policyBackup[ps.addr] {
			continue // backup already
		}
		base := time.Duration(pol.RestoreAfter)
		if !ps.promotedAt.IsZero() && now.Sub(ps.promotedAt) < ps.restoreFor+maxFor(pol.BackupWhen) {
			ps.restoreFor = min(2*ps.restoreFor, time.Duration(pol.MaxRestoreAfter))
		} else {
			ps.restoreFor = base
		}
		ps.backup, ps.why, ps.since = true, m.why, now
		ps.restoreAt = now.Add(ps.restoreFor)
		changed = true
		events = append(events, fmt.Sprintf("%s: made backup (%s); tried again in %v", ps.addr, m.why, ps.restoreFor))
	}
	snapPaths()
	return changed, events
}

// maxFor is the longest `for` of a condition (at least one interval).
func maxFor(c policy.Condition) time.Duration {
	var d time.Duration
	for _, g := range c.Any {
		for _, cl := range g {
			d = max(d, cl.For)
		}
	}
	return d
}

// window sums the samples of the last d (the last sample when d is 0);
// ok is false when the path has not been measured for d yet or carried
// nothing in it.
func window(samples []sample, now time.Time, d time.Duration) (w sample, ok bool) {
	if len(samples) == 0 {
		return w, false
	}
	// The samples cover (first.at - first.dur, last.at].
	start := samples[0].at.Add(-samples[0].dur)
	if now.Sub(start) < d {
		return w, false
	}
	for i := len(samples) - 1; i >= 0; i-- {
		s := samples[i]
		w.segs += s.segs
		w.retrans += s.retrans
		w.rttSum += s.rttSum
		w.rttN += s.rttN
		w.bytes += s.bytes
		w.dur += s.dur
		w.deliveryRateBps = s.deliveryRateBps // the latest
		if now.Sub(s.at.Add(-s.dur)) >= d {
			break
		}
	}
	return w, w.segs > 0 || w.bytes > 0
}

func metricOf(w sample, m string) float64 {
	switch m {
	case policy.MetricLoss:
		if w.segs == 0 {
			return 0
		}
		return 100 * float64(w.retrans) / float64(w.segs)
	case policy.MetricRTT:
		if w.rttN == 0 {
			return 0
		}
		return (w.rttSum / time.Duration(w.rttN)).Seconds()
	default:
		if w.dur <= 0 {
			return 0
		}
		return float64(w.bytes) * 8 / w.dur.Seconds()
	}
}

// evaluate returns why the condition holds for a path ("" if it does not).
// A clause `M op V for D` holds when M over the last D (the last interval
// without `for`) compares true; a path measured for less than D, or that
// carried nothing in it, meets no clause.
func evaluate(c policy.Condition, samples []sample, now time.Time) string {
	for _, g := range c.Any {
		var whys []string
		for _, cl := range g {
			w, ok := window(samples, now, cl.For)
			if !ok {
				whys = nil
				break
			}
			v := metricOf(w, cl.Metric)
			if !cl.Holds(v) {
				whys = nil
				break
			}
			whys = append(whys, fmt.Sprintf("%s %s %s %s over %v", cl.Metric, fmtMetric(cl.Metric, v), cl.Op, fmtMetric(cl.Metric, cl.Value), max(cl.For, w.dur).Round(time.Millisecond)))
		}
		if whys != nil {
			return strings.Join(whys, " and ")
		}
	}
	return ""
}

func fmtMetric(m string, v float64) string {
	switch m {
	case policy.MetricLoss:
		return fmt.Sprintf("%.1f%%", v)
	case policy.MetricRTT:
		return time.Duration(v * float64(time.Second)).Round(100 * time.Microsecond).String()
	}
	return fmt.Sprintf("%.2fmbit", v/1e6)
}

// better reports whether path a is better than b by the prefer metric
// over their whole recent history.
func better(prefer string, a, b []sample) bool {
	sum := func(ss []sample) sample {
		var w sample
		for _, s := range ss {
			w.segs += s.segs
			w.retrans += s.retrans
			w.rttSum += s.rttSum
			w.rttN += s.rttN
			w.bytes += s.bytes
			w.dur += s.dur
		}
		return w
	}
	va, vb := metricOf(sum(a), prefer), metricOf(sum(b), prefer)
	if prefer == policy.MetricRate {
		return va > vb
	}
	return va < vb
}

// measureQuality samples the namespace's subflows, applies path selection
// in userspace mode (per-subflow MP_PRIO) and reports whether the
// endpoints need a reconcile (in-kernel mode: backup flags changed).
func (d *daemon) measureQuality(us *userspacePM) bool {
	pol := d.pol.Quality
	if !pol.Enabled() && d.cfg.OnQuality == nil && !d.statusOn() {
		return false
	}
	conns, err := d.connections()
	if err != nil {
		d.log.Warn("path quality: cannot list connections", "err", err)
		return false
	}
	changed, events := d.quality.measure(conns, time.Now(), pol, d.links, d.polBkup)
	for _, ev := range events {
		d.log.Info("path selection", "change", ev, "policy", "[quality]")
	}
	if d.cfg.OnQuality != nil {
		d.cfg.OnQuality(d.quality.snapshot())
	}
	if d.status != nil {
		d.status.setQuality(d.quality.snapshot())
	}
	if us != nil {
		d.applySubflowBackup(conns)
		return false
	}
	d.enforceKernelBackup(conns, time.Now())
	return changed
}

// applySubflowBackup marks, with the userspace path manager, each subflow
// backup or not as path selection and the policy want (MP_PRIO).
func (d *daemon) applySubflowBackup(conns []sockdiag.Connection) {
	if d.pmClient == nil {
		return
	}
	demoted := d.quality.demoted()
	for i := range conns {
		c := &conns[i]
		for _, sf := range c.Subflows {
			if sf.MPTCP == nil || sf.State != 1 {
				continue
			}
			a := sf.Local.Addr()
			_, dem := demoted[a]
			want := dem || d.polBkup[a]
			if sf.MPTCP.Flags&sockdiag.FlagBackupLocal != 0 == want {
				continue
			}
			if err := d.pmClient.SetSubflowBackup(c.Token(), sf.Local, sf.Remote, want); err != nil {
				d.log.Warn("path selection: cannot change a subflow's priority", "local", sf.Local, "remote", sf.Remote, "backup", want, "err", err)
				continue
			}
			d.metrics.changes.WithLabelValues("subflow_priority").Inc()
		}
	}
}

// enforceKernelBackup keeps a demoted path backup on both ends in
// in-kernel mode. An endpoint flag change makes the kernel send MP_PRIO
// once, on a pure ACK, on the first subflow of the address per connection
// (mptcp_pm_mp_prio_send_ack stops at the first match). Three things can
// leave a subflow on the path in use:
//   - that ACK is lost on the impaired path (MP_PRIO is never
//     retransmitted): the peer goes on sending on the subflow. The daemon
//     sees data still arriving on a backup subflow in two intervals in a
//     row, from half a second after the demotion, and makes the kernel send MP_PRIO again by turning the
//     endpoint's backup flag off and on (at most once a second);
//   - the same for a subflow the kernel has not marked backup a second
//     after it appeared (the kernel marks a new connection's subflow on a
//     backup endpoint itself, within a few hundred ms);
//   - a second subflow of the address in one connection (made from the
//     endpoint when it was added while the connection's initial subflow
//     already used the address): the kernel never reaches it. Per-subflow
//     MP_PRIO (SET_FLAGS with a token and remote address) is tried, but
//     Linux accepts it only for the userspace path manager; then the
//     daemon warns once.
func (d *daemon) enforceKernelBackup(conns []sockdiag.Connection, now time.Time) {
	demoted := d.quality.demoted()
	for a := range d.backupWarned {
		if _, ok := demoted[a]; !ok {
			delete(d.backupWarned, a)
		}
	}
	for a := range d.backupResent {
		if _, ok := demoted[a]; !ok {
			delete(d.backupResent, a)
		}
	}
	// grace: how long a subflow may stay active after it appeared (the
	// kernel marks a new connection's subflow itself); settle: how long
	// after the demotion data may still arrive on a backup subflow (the
	// peer's retransmissions of what it had sent there before).
	const grace, settle, every = time.Second, 500 * time.Millisecond, time.Second
	if d.backupRx == nil {
		d.backupRx = map[string]int{}
	}
	seen := map[string]bool{}
	snap := d.quality.snapshot()
	since := map[netip.Addr]time.Time{}
	for _, p := range snap.Paths {
		since[p.Addr] = p.Since
	}
	rx := map[string]float64{}
	for _, s := range snap.Subflows {
		rx[fmt.Sprintf("%d %s %s", s.Token, s.Local, s.Remote)] = s.RxBps
	}
	for a := range demoted {
		o := d.owned[a]
		if o == nil || o.flags&pm.FlagBackup == 0 || since[a].IsZero() {
			continue // not (yet) backup in the kernel's table
		}
		settled := now.Sub(since[a]) >= settle
		var marked, stuck int
		resend := false
		var perSubflowErr error
		for i := range conns {
			c := &conns[i]
			mineMarked := 0
			for _, sf := range c.Subflows {
				if sf.State == 1 && sf.MPTCP != nil && sf.Local.Addr() == a && sf.MPTCP.Flags&sockdiag.FlagBackupLocal != 0 {
					mineMarked++
				}
			}
			marked += mineMarked
			for _, sf := range c.Subflows {
				if sf.State != 1 || sf.MPTCP == nil || sf.Local.Addr() != a {
					continue
				}
				k := fmt.Sprintf("%d %s %s", c.Token(), sf.Local, sf.Remote)
				if sf.MPTCP.Flags&sockdiag.FlagBackupLocal != 0 {
					// Data in two intervals in a row: the peer did not get
					// the MP_PRIO. (Its retransmissions of what it sent
					// before the demotion come at backed-off timeouts,
					// rarely twice in a row.)
					seen[k] = true
					if rx[k] > 0 {
						d.backupRx[k]++
					} else {
						d.backupRx[k] = 0
					}
					if settled && d.backupRx[k] >= 2 {
						resend = true
						d.backupRx[k] = 0
					}
					continue
				}
				seen[k] = true
				first, ok := d.backupPending[k]
				if !ok {
					if d.backupPending == nil {
						d.backupPending = map[string]time.Time{}
					}
					d.backupPending[k] = now
					continue
				}
				if now.Sub(first) < grace {
					continue
				}
				if d.pmClient != nil && perSubflowErr == nil {
					err := d.pmClient.SetSubflowBackup(c.Token(), sf.Local, sf.Remote, true)
					if err == nil {
						d.metrics.changes.WithLabelValues("subflow_priority").Inc()
						continue
					}
					perSubflowErr = err
				}
				if mineMarked == 0 {
					resend = true
					mineMarked++ // a re-send reaches this connection's first subflow only
				} else {
					stuck++
				}
			}
		}
		if resend && now.Sub(d.backupResent[a]) >= every {
			if d.backupResent == nil {
				d.backupResent = map[netip.Addr]time.Time{}
			}
			d.backupResent[a] = now
			sel := pm.Endpoint{ID: o.ID}
			err := d.pm.ChangeEndpoint(sel, o.flags&changeable&^pm.FlagBackup)
			if err == nil {
				err = d.pm.ChangeEndpoint(sel, o.flags&changeable)
			}
			if err != nil {
				d.log.Warn("path selection: cannot re-send the backup flag (MP_PRIO)", "address", a, "err", err)
			} else {
				d.metrics.changes.WithLabelValues("change").Inc()
				d.log.Info("path selection: re-sent the backup flag (MP_PRIO): a subflow on the path is still in use", "address", a)
			}
		}
		if stuck > 0 && !d.backupWarned[a] {
			if d.backupWarned == nil {
				d.backupWarned = map[netip.Addr]bool{}
			}
			d.backupWarned[a] = true
			d.log.Warn("path selection: the kernel made only some subflows of this path backup; the others stay active",
				"address", a, "backup", marked, "active", stuck, "per_subflow_err", perSubflowErr,
				"why", "the in-kernel path manager sends MP_PRIO on the first subflow per address and connection; a second subflow from the address appears when its endpoint is added while a connection already uses the address",
				"fix", "start the daemon before the connections, or use the userspace path manager (per-subflow priority)")
		}
	}
	for k := range d.backupPending {
		if !seen[k] {
			delete(d.backupPending, k)
		}
	}
	for k := range d.backupRx {
		if !seen[k] {
			delete(d.backupRx, k)
		}
	}
}
