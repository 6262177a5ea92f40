package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// Wire format.
//
// Every connection opens with a hello of helloLen bytes:
//
//	[0:4]   magic "MKB\x01"
//	[4]     protocol version (1)
//	[5]     kind: 1 control, 2 data
//	[6:8]   stream index, big endian (data connections)
//	[8:24]  the run's cookie (random, chosen by the client)
//	[24:32] zero
//
// After a control hello both sides exchange JSON objects, one per line, at
// most maxClientLine (client to server) or maxServerLine bytes each. After a
// data hello the connection carries payload only.
//
// A run, on the control connection:
//
//	client: start {mode, streams, reverse, duration_ms, rr_size, interval_ms, congestion_control}
//	server: ready {congestion_control}   (or error {error})
//	client: opens the data connections, each with a data hello
//	server: go                           (all data connections arrived)
//	        ... the transfer: the sender half-closes when the time is up ...
//	server: tick {retransmits}           (reverse runs: every interval_ms)
//	client: done {counts}                (the client's byte counts)
//	server: result {seconds, report}     (the server's counts and sockets)
//	client: bye                          (the server may close the data connections)
const (
	helloLen      = 32
	protoVersion  = 1
	kindControl   = 1
	kindData      = 2
	maxClientLine = 16 << 10
	maxServerLine = 4 << 20
)

const magic = "MKB\x01"

type cookie [16]byte

type hello struct {
	Kind   byte
	Stream uint16
	Cookie cookie
}

func (h hello) marshal() []byte {
	b := make([]byte, helloLen)
	copy(b[0:4], magic)
	b[4] = protoVersion
	b[5] = h.Kind
	binary.BigEndian.PutUint16(b[6:8], h.Stream)
	copy(b[8:24], h.Cookie[:])
	return b
}

var errNotBench = errors.New("not an mptcpkit bench peer (bad magic)")

func parseHello(b []byte) (hello, error) {
	var h hello
	if len(b) != helloLen {
		return h, fmt.Errorf("hello is %d bytes, want %d", len(b), helloLen)
	}
	if string(b[0:4]) != magic {
		return h, errNotBench
	}
	if b[4] != protoVersion {
		return h, fmt.Errorf("protocol version %d, this build speaks %d: use the same mptcpkit version on both ends", b[4], protoVersion)
	}
	h.Kind = b[5]
	if h.Kind != kindControl && h.Kind != kindData {
		return h, fmt.Errorf("unknown connection kind %d", h.Kind)
	}
	h.Stream = binary.BigEndian.Uint16(b[6:8])
	copy(h.Cookie[:], b[8:24])
	for _, x := range b[24:32] {
		if x != 0 {
			return h, errors.New("reserved hello bytes are not zero")
		}
	}
	return h, nil
}

// msg is every control message; Type says which fields matter.
type msg struct {
	Type string `json:"type"` // start, ready, go, tick, done, result, bye, error

	// start (client → server)
	Mode       Mode  `json:"mode,omitempty"`
	Streams    int   `json:"streams,omitempty"`
	Reverse    bool  `json:"reverse,omitempty"`
	DurationMS int64 `json:"duration_ms,omitempty"`
	RRSize     int   `json:"rr_size,omitempty"`
	IntervalMS int64 `json:"interval_ms,omitempty"`
	// start: the data connections' congestion control ("" = default);
	// ready: the server's default.
	CongestionControl string `json:"congestion_control,omitempty"`

	// tick (server → client, reverse runs): the server's cumulative
	// retransmissions per stream, every interval_ms.
	Retransmits []int64 `json:"retransmits,omitempty"`

	// done (client → server): what the client counted per stream.
	Counts []int64 `json:"counts,omitempty"`

	// result (server → client)
	Seconds float64        `json:"seconds,omitempty"`
	Report  []streamReport `json:"report,omitempty"`

	// error
	Error string `json:"error,omitempty"`
}

// streamReport is the server's view of one data connection.
type streamReport struct {
	State             string   `json:"state"`
	Read              int64    `json:"read"`
	Written           int64    `json:"written"`
	Transactions      int64    `json:"transactions,omitempty"`
	Retransmits       int64    `json:"retransmits"`
	CongestionControl string   `json:"congestion_control,omitempty"`
	Subflows          Subflows `json:"subflows,omitempty"`
	Local             string   `json:"local,omitempty"`
	Remote            string   `json:"remote,omitempty"`
}

// ctrl is one end of a control connection.
type ctrl struct {
	ctx context.Context // cancelling it sets c's deadlines (context.AfterFunc)
	c   net.Conn
	r   *bufio.Reader
	max int
}

func newCtrl(ctx context.Context, c net.Conn, maxLine int) *ctrl {
	return &ctrl{ctx: ctx, c: c, r: bufio.NewReaderSize(c, 4096), max: maxLine}
}

func (k *ctrl) send(m *msg, timeout time.Duration) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	k.c.SetWriteDeadline(time.Now().Add(timeout))
	// Checked after setting the deadline, which would otherwise override
	// the one set on cancellation.
	if err := k.ctx.Err(); err != nil {
		return err
	}
	_, err = k.c.Write(b)
	return err
}

// recv reads one message, waiting at most timeout.
func (k *ctrl) recv(timeout time.Duration) (*msg, error) {
	k.c.SetReadDeadline(time.Now().Add(timeout))
	if err := k.ctx.Err(); err != nil {
		return nil, err
	}
	line, err := readLine(k.r, k.max)
	if err != nil {
		return nil, err
	}
	var m msg
	if err := json.Unmarshal(line, &m); err != nil {
		return nil, &protoError{fmt.Sprintf("malformed control message: %v", err)}
	}
	if m.Type == "" {
		return nil, &protoError{"control message without a type"}
	}
	return &m, nil
}

// protoError is a peer breaking the control protocol.
type protoError struct{ msg string }

func (e *protoError) Error() string { return e.msg }

// readLine reads up to '\n' without buffering more than max bytes.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(line)+len(frag) > max {
			return nil, &protoError{fmt.Sprintf("control message longer than %d bytes", max)}
		}
		line = append(line, frag...)
		switch {
		case err == nil:
			return bytes.TrimSuffix(line, []byte("\n")), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}
