package daemon

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mptcpkit/mptcpkit/pm"
	"github.com/mptcpkit/mptcpkit/sockdiag"
)

// DefaultMetricsAddr is where `mptcpkit daemon` serves metrics by default.
const DefaultMetricsAddr = "127.0.0.1:9808"

type metrics struct {
	reg              *prometheus.Registry
	reconciles       prometheus.Counter
	reconcileErrors  prometheus.Counter
	reconcileSeconds prometheus.Histogram
	changes          *prometheus.CounterVec
	reloads          *prometheus.CounterVec
	netlink          *prometheus.CounterVec
	events           *prometheus.CounterVec
	eventsLost       prometheus.Counter
	endpoints        *prometheus.GaugeVec
	owned            prometheus.Gauge
	info             *prometheus.GaugeVec
}

func newMetrics(reg *prometheus.Registry, d *daemon) *metrics {
	m := &metrics{
		reg: reg,
		reconciles: prometheus.NewCounter(prometheus.CounterOpts{Name: "mptcpkit_daemon_reconciles_total",
			Help: "Reconciles of the endpoint table (at start, on network changes, periodically)."}),
		reconcileErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "mptcpkit_daemon_reconcile_errors_total",
			Help: "Reconciles or path-manager operations that failed."}),
		reconcileSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "mptcpkit_daemon_reconcile_seconds",
			Help: "Time one reconcile takes.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 12)}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mptcpkit_daemon_endpoint_changes_total",
			Help: "Changes made: add, delete, change (flags), subflow_create (userspace PM)."}, []string{"action"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mptcpkit_daemon_policy_reloads_total",
			Help: "Policy reloads (SIGHUP) by result."}, []string{"result"}),
		netlink: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mptcpkit_daemon_netlink_notifications_total",
			Help: "rtnetlink notifications seen, by kind (link, addr, route, resync)."}, []string{"kind"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mptcpkit_daemon_pm_events_total",
			Help: "MPTCP path-manager events, by type (CREATED, ESTABLISHED, SUB_ESTABLISHED, ...)."}, []string{"type"}),
		eventsLost: prometheus.NewCounter(prometheus.CounterOpts{Name: "mptcpkit_daemon_pm_events_lost_total",
			Help: "Times the kernel dropped path-manager events because the daemon fell behind."}),
		endpoints: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mptcpkit_endpoints",
			Help: "Endpoints in the kernel's table by flag (an endpoint counts once per flag; flag=\"all\" counts each once)."}, []string{"flag"}),
		owned: prometheus.NewGauge(prometheus.GaugeOpts{Name: "mptcpkit_daemon_owned_endpoints",
			Help: "Endpoints the daemon added and manages."}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mptcpkit_daemon_info",
			Help: "1, labelled with the path manager in use (kernel or userspace) and the namespace managed."}, []string{"path_manager", "netns"}),
	}
	reg.MustRegister(m.reconciles, m.reconcileErrors, m.reconcileSeconds, m.changes, m.reloads, m.netlink,
		m.events, m.eventsLost, m.endpoints, m.owned, m.info, &connCollector{d: d}, &netstatCollector{d: d})
	return m
}

func (m *metrics) netlinkEvent(kind string) { m.netlink.WithLabelValues(kind).Inc() }

func (m *metrics) setEndpoints(kernel []pm.Endpoint, owned int) {
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

func (m *metrics) event(ev pm.Event) { m.events.WithLabelValues(ev.Type.String()).Inc() }

// connCollector counts MPTCP connections and their subflows in the
// managed namespace over sock_diag at every scrape.
type connCollector struct{ d *daemon }

var (
	connsDesc    = prometheus.NewDesc("mptcpkit_mptcp_connections", "MPTCP connections in the namespace (sock_diag), by whether they fell back to TCP.", []string{"fallback"}, nil)
	subflowsDesc = prometheus.NewDesc("mptcpkit_mptcp_subflows", "TCP subflows of the namespace's MPTCP connections (sock_diag).", nil, nil)
	mibDesc      = prometheus.NewDesc("mptcpkit_mptcpext_total", "MPTCP MIB counters of the namespace (/proc/net/netstat MPTcpExt).", []string{"counter"}, nil)
)

func (c *connCollector) Describe(ch chan<- *prometheus.Desc) { ch <- connsDesc; ch <- subflowsDesc }
func (c *connCollector) Collect(ch chan<- prometheus.Metric) {
	sd, err := sockdiag.Dial(&sockdiag.Config{NetNS: c.d.cfg.NetNS})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(connsDesc, err)
		return
	}
	defer sd.Close()
	conns, err := sd.Connections()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(connsDesc, err)
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
	ch <- prometheus.MustNewConstMetric(connsDesc, prometheus.GaugeValue, float64(active), "false")
	ch <- prometheus.MustNewConstMetric(connsDesc, prometheus.GaugeValue, float64(fallback), "true")
	ch <- prometheus.MustNewConstMetric(subflowsDesc, prometheus.GaugeValue, float64(subflows))
}

// netstatCollector reads the MPTcpExt counters inside the managed namespace
// at every scrape.
type netstatCollector struct{ d *daemon }

func (c *netstatCollector) Describe(ch chan<- *prometheus.Desc) { ch <- mibDesc }
func (c *netstatCollector) Collect(ch chan<- prometheus.Metric) {
	var b []byte
	err := c.d.inNS(func() (err error) {
		b, err = os.ReadFile("/proc/thread-self/net/netstat")
		return err
	})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(mibDesc, err)
		return
	}
	counters, err := ParseMPTcpExt(b)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(mibDesc, err)
		return
	}
	for name, v := range counters {
		ch <- prometheus.MustNewConstMetric(mibDesc, prometheus.CounterValue, float64(v), name)
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
func (m *metrics) serve(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w (choose another with --metrics ADDR, or --metrics '' to turn them off)", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
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
