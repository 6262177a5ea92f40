package daemon

import (
	"bufio"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestStatusStreamOutlivesReadTimeout: an event stream keeps delivering
// views past the server's read timeout, and a client that sends no request
// is dropped after it.
func TestStatusStreamOutlivesReadTimeout(t *testing.T) {
	d := &daemon{log: slog.New(slog.DiscardHandler), status: newStatusHub(), metrics: NewMetrics(), quality: newQuality()}
	addr, stop, err := d.serveStatus("127.0.0.1:0", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get("http://" + addr + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	events := 0
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		d.status.setQuality(Quality{Time: time.Now()})
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended after %d events: %v", events, err)
		}
		if strings.HasPrefix(line, "data: ") {
			events++
		}
		time.Sleep(50 * time.Millisecond)
	}
	if events < 10 {
		t.Errorf("%d events in 1 s", events)
	}
	// A connection that never sends its request is closed.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	t0 := time.Now()
	if _, err := c.Read(make([]byte, 1)); err == nil || time.Since(t0) > 2*time.Second {
		t.Errorf("an idle connection was not closed by the server (err %v after %v)", err, time.Since(t0))
	}
}
