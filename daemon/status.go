package daemon

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

//go:embed status
var statusFiles embed.FS

// Limits of the status page's server.
const (
	// MaxStatusClients is how many live (server-sent events) clients the
	// status page serves at once; more get 503.
	MaxStatusClients = 8
	// statusStreamLife ends an event stream after a while; browsers
	// reconnect by themselves (EventSource), so no client holds a slot
	// for ever.
	statusStreamLife = 10 * time.Minute
	statusWriteLimit = 5 * time.Second
)

// StatusAddr turns the --http argument into a listen address: a port alone
// ("8080" or ":8080") means loopback (127.0.0.1).
func StatusAddr(s string) (string, error) {
	if _, err := strconv.ParseUint(s, 10, 16); err == nil {
		s = ":" + s
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("--http %q: want PORT, :PORT or HOST:PORT (%v)", s, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("--http %q: port %q is not a number 0..65535", s, port)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// StatusView is what the status page shows (GET /api/status, and each
// server-sent event of /api/events).
type StatusView struct {
	Time      time.Time        `json:"time"`
	PID       int              `json:"pid"`
	Mode      string           `json:"mode"`
	NetNS     string           `json:"netns"`
	Policy    string           `json:"policy"`
	LastError string           `json:"last_error,omitempty"`
	Kernel    []KernelEndpoint `json:"kernel"`
	Decisions []Decision       `json:"addresses"`
	Damping   []LinkDamping    `json:"damping"`
	Quality   Quality          `json:"quality"`
}

// statusHub keeps the latest view and hands it to event-stream clients.
type statusHub struct {
	mu      sync.Mutex
	view    StatusView
	clients map[chan []byte]struct{}
	slots   chan struct{}
}

func newStatusHub() *statusHub {
	return &statusHub{clients: map[chan []byte]struct{}{}, slots: make(chan struct{}, MaxStatusClients),
		view: StatusView{Kernel: []KernelEndpoint{}, Decisions: []Decision{}, Damping: []LinkDamping{}}}
}

func (h *statusHub) setState(s *StateFile) {
	h.mu.Lock()
	h.view.PID, h.view.Mode, h.view.NetNS, h.view.Policy, h.view.LastError = s.PID, s.Mode, s.NetNS, s.Policy, s.LastError
	h.view.Kernel = append([]KernelEndpoint{}, s.Kernel...)
	h.view.Decisions = append([]Decision{}, s.Decisions...)
	h.view.Damping = append([]LinkDamping{}, s.Damping...)
	h.mu.Unlock()
	h.publish()
}

func (h *statusHub) setQuality(q Quality) {
	h.mu.Lock()
	h.view.Quality = q
	h.mu.Unlock()
	h.publish()
}

func (h *statusHub) current() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.view.Time = time.Now().UTC()
	if h.view.Quality.Paths == nil {
		h.view.Quality.Paths = []PathQuality{}
	}
	if h.view.Quality.Subflows == nil {
		h.view.Quality.Subflows = []SubflowQuality{}
	}
	b, _ := json.Marshal(h.view)
	return b
}

// publish sends the current view to every client; a slow client misses
// intermediate views (its channel holds the newest only).
func (h *statusHub) publish() {
	b := h.current()
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.clients {
		select {
		case <-ch:
		default:
		}
		ch <- b
	}
}

func (h *statusHub) subscribe() chan []byte {
	ch := make(chan []byte, 1)
	h.mu.Lock()
	h.clients[ch] = struct{}{}
	h.mu.Unlock()
	return ch
}

func (h *statusHub) unsubscribe(ch chan []byte) {
	h.mu.Lock()
	delete(h.clients, ch)
	h.mu.Unlock()
}

func (h *statusHub) serveEvents(w http.ResponseWriter, r *http.Request) {
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	default:
		http.Error(w, fmt.Sprintf("the status page serves at most %d live clients; try again later", MaxStatusClients), http.StatusServiceUnavailable)
		return
	}
	rc := http.NewResponseController(w)
	// A stream reads nothing more: no read deadline (its writes have
	// deadlines instead).
	rc.SetReadDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	ch := h.subscribe()
	defer h.unsubscribe(ch)
	send := func(b []byte) bool {
		rc.SetWriteDeadline(time.Now().Add(statusWriteLimit))
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send(h.current()) {
		return
	}
	life := time.NewTimer(statusStreamLife)
	defer life.Stop()
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case b := <-ch:
			if !send(b) {
				return
			}
		case <-keep.C:
			rc.SetWriteDeadline(time.Now().Add(statusWriteLimit))
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case <-life.C:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// statusReadTimeout bounds reading a request (headers and body).
const statusReadTimeout = 10 * time.Second

// serveStatus starts the status page server on addr; it returns the
// address it listens on, and stop shuts it down.
func (d *daemon) serveStatus(addr string, readTimeout time.Duration) (bound string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("status page: listen on %s: %w (choose another with --http ADDR)", addr, err)
	}
	if host, _, _ := net.SplitHostPort(addr); host != "" && !net.ParseIP(host).IsLoopback() && host != "localhost" {
		d.log.Warn("the status page is reachable from other hosts; it shows this host's addresses and traffic", "addr", addr)
	}
	static, _ := fs.Sub(statusFiles, "status")
	mux := http.NewServeMux()
	files := http.FileServerFS(static)
	bounded := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			http.NewResponseController(w).SetWriteDeadline(time.Now().Add(10 * time.Second))
			h(w, r)
		}
	}
	mux.HandleFunc("GET /{$}", bounded(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		files.ServeHTTP(w, r)
	}))
	for _, f := range []string{"app.js", "style.css"} {
		mux.HandleFunc("GET /"+f, bounded(files.ServeHTTP))
	}
	mux.HandleFunc("GET /api/status", bounded(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(d.status.current())
	}))
	mux.HandleFunc("GET /api/events", d.status.serveEvents)
	mux.HandleFunc("GET /metrics", bounded(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		d.metrics.WriteText(w)
	}))
	base, cancelBase := context.WithCancel(context.Background())
	srv := &http.Server{
		BaseContext: func(net.Listener) context.Context { return base },
		Handler:     mux, ReadHeaderTimeout: min(5*time.Second, readTimeout), ReadTimeout: readTimeout,
		IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	d.log.Info("serving the status page", "url", "http://"+ln.Addr().String()+"/")
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		cancelBase() // ends the event streams
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
		<-done
	}, nil
}
