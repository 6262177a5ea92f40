package storage

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"

	"github.com/mptcpkit/mptcpkit/bench"
	"github.com/mptcpkit/mptcpkit/mptcp"
	"github.com/mptcpkit/mptcpkit/netns"
)

// relay carries the kernel nbd client's connections to the server. The
// kernel's nbd driver accepts only TCP and UNIX sockets ("Unsupported
// socket: should be TCP or UNIX", in Linux since 2025 and in the stable
// kernels it was backported to, Debian's 6.1 and 6.12 among them), so
// nbd-client cannot hand it an MPTCP socket: it connects over loopback to
// the relay instead, and the relay opens the connection to the server from
// the lab's client namespace with network ("tcp" or "mptcp"), one per
// nbd-client connection, and copies both ways. The relay listens, and
// nbd-client runs, in the caller's namespace: Linux 6.1's nbd netlink
// family is not visible from other network namespaces (nbd-client there
// says "Couldn't resolve the nbd netlink family").
type relay struct {
	ln     net.Listener
	dial   bench.DialFunc
	target string
	net    string
	log    *slog.Logger
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
}

func startRelay(nsName, network, target string, log *slog.Logger) (*relay, error) {
	ns, err := netns.Open(nsName)
	if err != nil {
		return nil, err
	}
	ln, err := mptcp.ListenWith(context.Background(), "tcp", "127.0.0.1:0", mptcp.ListenOptions{TCP: true})
	if err != nil {
		ns.Close()
		return nil, err
	}
	r := &relay{ln: ln, dial: bench.NetNSDialer(ns), target: target, net: network, log: log, conns: map[net.Conn]bool{}}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer ns.Close()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.wg.Add(1)
			go r.serve(c)
		}
	}()
	return r, nil
}

// addr is where nbd-client connects (loopback, the caller's namespace).
func (r *relay) addr() *net.TCPAddr { return r.ln.Addr().(*net.TCPAddr) }

func (r *relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns[c] = true
	return true
}

func (r *relay) serve(in net.Conn) {
	defer r.wg.Done()
	defer in.Close()
	if !r.track(in) {
		return
	}
	out, err := r.dial(context.Background(), r.net, r.target)
	if err != nil {
		r.log.Warn("storage relay: dial", "target", r.target, "network", r.net, "err", err)
		return
	}
	defer out.Close()
	if !r.track(out) {
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	<-done
}

// close stops accepting, cuts every relayed connection and waits.
func (r *relay) close() error {
	err := r.ln.Close()
	r.mu.Lock()
	r.closed = true
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
