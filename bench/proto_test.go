package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHelloRoundTrip(t *testing.T) {
	for _, h := range []hello{
		{Kind: kindControl, Cookie: cookie{1, 2, 3}},
		{Kind: kindData, Stream: 127, Cookie: cookie{0xff, 15: 0xee}},
	} {
		b := h.marshal()
		if len(b) != helloLen {
			t.Fatalf("marshal: %d bytes", len(b))
		}
		got, err := parseHello(b)
		if err != nil {
			t.Fatalf("parseHello(%x): %v", b, err)
		}
		if diff := cmp.Diff(h, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
}

func TestParseHelloErrors(t *testing.T) {
	good := hello{Kind: kindData, Cookie: cookie{1}}.marshal()
	mod := func(i int, v byte) []byte {
		b := bytes.Clone(good)
		b[i] = v
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"short", good[:31], "want 32"},
		{"magic", mod(0, 'X'), "bad magic"},
		{"version", mod(4, 2), "protocol version 2"},
		{"kind", mod(5, 3), "unknown connection kind 3"},
		{"reserved", mod(31, 1), "reserved"},
	} {
		_, err := parseHello(tc.b)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestReadLine(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		max      int
		err      error
	}{
		{"abc\nrest", "abc", 10, nil},
		{"\n", "", 10, nil},
		{strings.Repeat("x", 9000) + "\n", strings.Repeat("x", 9000), 10000, nil},
		{strings.Repeat("x", 9000) + "\n", "", 8000, errors.New("longer than 8000")},
		{"abc", "", 10, io.ErrUnexpectedEOF},
		{"", "", 10, io.EOF},
	} {
		got, err := readLine(bufio.NewReaderSize(strings.NewReader(tc.in), 16), tc.max)
		switch {
		case tc.err == nil && err != nil:
			t.Errorf("readLine(%.20q): %v", tc.in, err)
		case tc.err != nil && (err == nil || !strings.Contains(err.Error(), tc.err.Error())):
			t.Errorf("readLine(%.20q): %v, want %v", tc.in, err, tc.err)
		case string(got) != tc.want:
			t.Errorf("readLine(%.20q) = %.20q, want %.20q", tc.in, got, tc.want)
		}
	}
}

func TestValidateStart(t *testing.T) {
	ok := msg{Type: "start", Mode: ModeTCP, Streams: 1, DurationMS: 1000}
	if err := validateStart(&ok); err != nil {
		t.Fatalf("valid start: %v", err)
	}
	for _, m := range []msg{
		{Type: "go", Mode: ModeTCP, Streams: 1, DurationMS: 1000},
		{Type: "start", Mode: 0, Streams: 1, DurationMS: 1000},
		{Type: "start", Mode: ModeTCP, Streams: 0, DurationMS: 1000},
		{Type: "start", Mode: ModeTCP, Streams: MaxStreams + 1, DurationMS: 1000},
		{Type: "start", Mode: ModeTCP, Streams: 1, DurationMS: 0},
		{Type: "start", Mode: ModeTCP, Streams: 1, DurationMS: 1 << 62},
		{Type: "start", Mode: ModeTCP, Streams: 1, DurationMS: 1000, RRSize: -1},
		{Type: "start", Mode: ModeTCP, Streams: 1, DurationMS: 1000, RRSize: 10, Reverse: true},
	} {
		if err := validateStart(&m); err == nil {
			t.Errorf("validateStart(%+v) accepted it", m)
		}
	}
}

// FuzzParseHello: any 32 bytes either fail cleanly or round-trip.
func FuzzParseHello(f *testing.F) {
	f.Add(hello{Kind: kindControl, Cookie: cookie{1}}.marshal())
	f.Add(hello{Kind: kindData, Stream: 3, Cookie: cookie{2}}.marshal())
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n12345"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHello(b)
		if err != nil {
			return
		}
		if !bytes.Equal(h.marshal(), b) {
			t.Errorf("parseHello(%x) = %+v, which marshals to %x", b, h, h.marshal())
		}
	})
}

// FuzzReadLine: a bounded reader never returns more than max bytes and
// never a line containing a newline.
func FuzzReadLine(f *testing.F) {
	f.Add([]byte("{\"type\":\"start\"}\n"), 64)
	f.Add(bytes.Repeat([]byte("x"), 100), 10)
	f.Fuzz(func(t *testing.T, in []byte, max int) {
		if max < 1 || max > 1<<16 {
			return
		}
		line, err := readLine(bufio.NewReaderSize(bytes.NewReader(in), 16), max)
		if err != nil {
			return
		}
		if len(line) > max || bytes.IndexByte(line, '\n') >= 0 {
			t.Errorf("readLine returned %d bytes (max %d): %q", len(line), max, line)
		}
		if !bytes.HasPrefix(in, append(bytes.Clone(line), '\n')) {
			t.Errorf("line %q is not the input's first line", line)
		}
	})
}

// FuzzServer feeds arbitrary bytes to the server's connection handler: it
// must return (bounded by its timeouts) without an internal error, whatever
// it is sent.
func FuzzServer(f *testing.F) {
	ctl := hello{Kind: kindControl, Cookie: cookie{1}}.marshal()
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add(ctl)
	f.Add(append(bytes.Clone(ctl), `{"type":"start","mode":"tcp","streams":1,"duration_ms":1000}`+"\n"...))
	f.Add(append(bytes.Clone(ctl), `{"type":"start","mode":"mptcp","streams":128,"duration_ms":1,"rr_size":1048576}`+"\n"+`{"type":"done"}`+"\n"...))
	f.Add(append(bytes.Clone(ctl), `{"type":"start","mode":"nope"}`+"\n"...))
	f.Add(hello{Kind: kindData, Stream: 65535, Cookie: cookie{1}}.marshal())
	f.Fuzz(func(t *testing.T, in []byte) {
		var log syncBuffer
		s := &Server{
			Logger:           slog.New(slog.NewTextHandler(&log, nil)),
			HandshakeTimeout: 20 * time.Millisecond,
			AttachTimeout:    20 * time.Millisecond,
			sessions:         map[cookie]*session{},
		}
		srv, peer := net.Pipe()
		defer peer.Close()
		go io.Copy(io.Discard, peer)
		go peer.Write(in)
		pending := make(chan struct{}, 1)
		pending <- struct{}{}
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.handle(context.Background(), srv, pending)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("handler still running 5 s after %q", in)
		}
		if strings.Contains(log.String(), "internal error") {
			t.Fatalf("handler failed on %q:\n%s", in, log.String())
		}
		if len(s.sessions) != 0 || s.runs != 0 {
			t.Errorf("after %q: %d sessions, %d runs left behind", in, len(s.sessions), s.runs)
		}
	})
}
