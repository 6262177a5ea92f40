package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/mptcp"
)

// BufferSize is the size of the buffers used when splice is impossible (TLS).
const BufferSize = 256 << 10

// bufferPool hands out BufferSize buffers; one per Server or Client.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, BufferSize); return &b }}}
}

// Result is what a relay did.
type Result struct {
	Up, Down int64  // bytes from the connecting side to the far side, and back
	End      string // how it ended: "closed", "reset", "idle timeout", "shut down", "error: ..."
}

// pipe is one relayed connection pair: a is the side that connected to us,
// b the side we connected to.
type pipe struct {
	a, b    net.Conn
	watch   net.Conn // a plain TCP side whose counters show activity (idle timer)
	pool    *bufferPool
	idle    time.Duration
	end     atomic.Pointer[string]
	closing sync.Once
}

func (p *pipe) setEnd(s string) { p.end.CompareAndSwap(nil, &s) }

// abort closes both sides with RST (SO_LINGER 0), recording why.
func (p *pipe) abort(why string) {
	p.setEnd(why)
	p.closing.Do(func() {
		for _, c := range []net.Conn{p.a, p.b} {
			if tc, err := mptcp.TCPConn(c); err == nil {
				tc.SetLinger(0)
			}
			c.Close()
		}
	})
}

func (p *pipe) close() {
	p.closing.Do(func() { p.a.Close(); p.b.Close() })
}

// run relays until both directions are done, then closes both sides.
func (p *pipe) run() Result {
	var up, down int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		down = p.copy(p.a, p.b)
	}()
	var stop func() bool
	if p.idle > 0 && p.watch != nil {
		stop = p.startIdleTimer()
	}
	up = p.copy(p.b, p.a)
	wg.Wait()
	if stop != nil {
		stop()
	}
	p.setEnd("closed")
	p.close()
	return Result{Up: up, Down: down, End: *p.end.Load()}
}

// copy moves src → dst until EOF, then half-closes dst; on a reset it
// aborts both sides so the reset reaches the other end too.
func (p *pipe) copy(dst, src net.Conn) int64 {
	var n int64
	var err error
	d, dok := dst.(*net.TCPConn)
	s, sok := src.(*net.TCPConn)
	if dok && sok {
		n, err = spliceWhenReadable(d, s)
	} else {
		bp := p.pool.p.Get().(*[]byte)
		n, err = io.CopyBuffer(writerOnly{dst}, readerOnly{src}, *bp)
		p.pool.p.Put(bp)
	}
	switch {
	case err == nil:
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			if cw.CloseWrite() == nil {
				return n
			}
		}
		p.close()
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		p.abort("reset")
	case errors.Is(err, net.ErrClosed):
		// the other direction or a timer closed us; it recorded why
	default:
		p.abort("error: " + err.Error())
	}
	return n
}

// spliceWhenReadable moves src → dst with splice(2) (Go's TCPConn.ReadFrom)
// until EOF, but splices only what is already queued on src: it waits for
// data with the poller, holding no pipe, and then splices exactly the
// queued bytes (SIOCINQ). A plain io.Copy would keep a pipe pair per
// direction (2 descriptors and a 1 MiB pipe's buffer array) for as long as
// the connection is idle. If the socket cannot report its queue, it falls
// back to a plain ReadFrom.
func spliceWhenReadable(dst, src *net.TCPConn) (int64, error) {
	rc, err := src.SyscallConn()
	if err != nil {
		return dst.ReadFrom(src)
	}
	var total int64
	var peek [1]byte
	for {
		var avail int
		var perr error
		eof := false
		err := rc.Read(func(fd uintptr) bool {
			n, _, err := unix.Recvfrom(int(fd), peek[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
			switch {
			case err == unix.EAGAIN || err == unix.EINTR:
				return false // wait for readability, no pipe held
			case err != nil:
				perr = err
			case n == 0:
				eof = true
			default:
				avail, perr = unix.IoctlGetInt(int(fd), unix.SIOCINQ)
			}
			return true
		})
		if err == nil {
			err = perr
		}
		switch {
		case errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL):
			n, err := dst.ReadFrom(src) // no SIOCINQ: plain splice
			return total + n, err
		case err != nil:
			return total, &net.OpError{Op: "read", Net: "tcp", Source: src.LocalAddr(), Addr: src.RemoteAddr(), Err: os.NewSyscallError("recvfrom", err)}
		case eof:
			return total, nil
		}
		if avail <= 0 {
			avail = 1 // data raced in between; splice at least the peeked byte
		}
		n, err := dst.ReadFrom(&io.LimitedReader{R: src, N: int64(avail)})
		total += n
		if err != nil {
			return total, err
		}
		if n == 0 {
			return total, nil // EOF
		}
	}
}

// startIdleTimer closes the pipe when the watched TCP socket has neither
// received nor had acknowledged any byte for p.idle. It reads the kernel's
// counters (TCP_INFO), so it works while splice moves the data.
func (p *pipe) startIdleTimer() func() bool {
	var last uint64
	var t *time.Timer
	var mu sync.Mutex
	check := func() {
		mu.Lock()
		defer mu.Unlock()
		now, err := activity(p.watch)
		if err != nil {
			return
		}
		if now == last {
			p.abort("idle timeout")
			return
		}
		last = now
		t.Reset(p.idle)
	}
	mu.Lock()
	last, _ = activity(p.watch)
	t = time.AfterFunc(p.idle, check)
	mu.Unlock()
	return t.Stop
}

// activity returns bytes received + bytes acked on a TCP socket.
func activity(c net.Conn) (uint64, error) {
	tc, err := mptcp.TCPConn(c)
	if err != nil {
		return 0, errors.ErrUnsupported
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var info *unix.TCPInfo
	var serr error
	if err := rc.Control(func(fd uintptr) {
		info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, serr
	}
	return info.Bytes_received + info.Bytes_acked, nil
}

// writerOnly and readerOnly hide ReadFrom/WriteTo so io.CopyBuffer uses our
// buffer.
type writerOnly struct{ io.Writer }
type readerOnly struct{ io.Reader }

// FDsPerConn is how many file descriptors one relayed connection holds in a
// proxy at most: its two sockets, and for each direction moving data the
// pipe pair splice uses (an idle connection holds only its sockets).
const FDsPerConn = 6

// noFileReserve is how many descriptors a proxy keeps for itself beside
// its connections (listener, logs, resolver, handshakes being refused).
const noFileReserve = 64

// checkNoFile warns when maxConns relayed connections could exhaust the
// open-file limit.
func checkNoFile(log interface{ Warn(string, ...any) }, maxConns int) {
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) != nil {
		return
	}
	if need := uint64(maxConns)*FDsPerConn + noFileReserve; lim.Cur < need {
		log.Warn("the open-file limit is below what --max-conns may need; raise it (systemd LimitNOFILE=, ulimit -n) or lower --max-conns",
			"max_conns", maxConns, "fds_needed", need, "rlimit_nofile", lim.Cur)
	}
}

// RaiseNoFileLimit raises the soft open-file limit (RLIMIT_NOFILE) of the
// process to its hard limit, and returns the soft limit now in force.
func RaiseNoFileLimit() (uint64, error) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
	}
	return lim.Cur, nil
}

// MaxConnsFor returns the connection limit that fits an open-file limit of
// nofile descriptors: DefaultMaxConns, or fewer when nofile is lower than
// what DefaultMaxConns connections may need (at least 1).
func MaxConnsFor(nofile uint64) int {
	if nofile < noFileReserve+FDsPerConn {
		return 1
	}
	return int(min(uint64(DefaultMaxConns), (nofile-noFileReserve)/FDsPerConn))
}
