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
	// Ten events 100 ms apart: the stream lives past three read timeouts
	// (counted, not timed, so a slow machine - TCG in the kernel matrix -
	// only takes longer).
	t0 := time.Now()
	for events := 0; events < 10; {
		d.status.setQuality(Quality{Time: time.Now()})
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended after %d events (%v): %v", events, time.Since(t0), err)
		}
		if strings.HasPrefix(line, "data: ") {
			events++
			time.Sleep(100 * time.Millisecond)
		}
	}
	if d := time.Since(t0); d < 900*time.Millisecond {
		t.Errorf("ten events 100 ms apart took %v", d)
	}
	// A connection that never sends its request is closed.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	t0 = time.Now()
	if _, err := c.Read(make([]byte, 1)); err == nil || time.Since(t0) > 2*time.Second {
		t.Errorf("an idle connection was not closed by the server (err %v after %v)", err, time.Since(t0))
	}
}
