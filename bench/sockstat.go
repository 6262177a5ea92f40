package bench

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/mptcp"
)

const (
	stateMPTCP    = "mptcp"
	stateFallback = "fallback"
	stateTCP      = "tcp"
)

// connStat is what the kernel says about one data connection.
type connStat struct {
	State             string
	Reason            string // why State is not "mptcp", if it says
	CongestionControl string
	Retransmits       int64
	Subflows          []Subflow
}

func rawConn(c any) (syscall.RawConn, error) {
	for {
		switch v := c.(type) {
		case syscall.Conn:
			return v.SyscallConn()
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil, errors.New("connection has no file descriptor")
		}
	}
}

// control runs fn on c's descriptor.
func control(c any, fn func(fd int) error) error {
	rc, err := rawConn(c)
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// congestion returns the congestion control of c (TCP_CONGESTION), or "".
func congestion(c any) string {
	var cc string
	control(c, func(fd int) error {
		s, err := unix.GetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION)
		cc = s
		return err
	})
	return cc
}

// setCongestion sets the congestion control of c (TCP_CONGESTION; on an
// MPTCP socket the kernel applies it to every subflow).
func setCongestion(c any, name string) error {
	err := control(c, func(fd int) error {
		return unix.SetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION, name)
	})
	switch {
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("congestion control %q is not available in this kernel (see /proc/sys/net/ipv4/tcp_available_congestion_control; modprobe tcp_%s may add it): %w", name, name, err)
	case errors.Is(err, unix.EPERM):
		return fmt.Errorf("congestion control %q is not allowed (add it to net.ipv4.tcp_allowed_congestion_control): %w", name, err)
	case err != nil:
		return fmt.Errorf("set congestion control %q: %w", name, err)
	}
	return nil
}

// sockState says whether c is an MPTCP socket using MPTCP ("mptcp"), an
// MPTCP socket that fell back to TCP ("fallback") or a TCP socket ("tcp"),
// and why when it is not using MPTCP.
func sockState(c any) (state, reason string) {
	st, err := mptcp.StateOf(c)
	switch {
	case err != nil:
		return stateTCP, err.Error()
	case st == mptcp.Active:
		return stateMPTCP, ""
	case st == mptcp.Fallback:
		return stateFallback, st.Reason()
	case st == mptcp.NotRequested:
		return stateTCP, ""
	}
	return stateTCP, st.Reason()
}

// tcpSubflow describes a TCP (or fallen-back) connection as one subflow.
func tcpSubflow(c net.Conn) (Subflow, error) {
	var ti *unix.TCPInfo
	err := control(c, func(fd int) error {
		var err error
		ti, err = unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		return err
	})
	if err != nil {
		return Subflow{}, err
	}
	return Subflow{
		Local:         c.LocalAddr().String(),
		Remote:        c.RemoteAddr().String(),
		Bytes:         ti.Bytes_acked,
		BytesSent:     ti.Bytes_sent,
		BytesReceived: ti.Bytes_received,
		Retransmits:   ti.Total_retrans,
		RTT:           time.Duration(ti.Rtt) * time.Microsecond,
	}, nil
}

// stat collects connStat for c.
func stat(c net.Conn) connStat {
	s := connStat{CongestionControl: congestion(c)}
	s.State, s.Reason = sockState(c)
	if s.State == stateMPTCP {
		if sfs, err := mptcpSubflows(c); err == nil {
			s.Subflows = sfs
			for _, sf := range sfs {
				s.Retransmits += int64(sf.Retransmits)
			}
			return s
		}
	}
	if sf, err := tcpSubflow(c); err == nil {
		s.Subflows = []Subflow{sf}
		s.Retransmits = int64(sf.Retransmits)
	}
	return s
}

// subflowsOf lists c's subflows (one for a TCP connection), or nil.
func subflowsOf(c net.Conn) []Subflow {
	if sfs, err := mptcpSubflows(c); err == nil {
		return sfs
	}
	if sf, err := tcpSubflow(c); err == nil {
		return []Subflow{sf}
	}
	return nil
}

// mptcpSubflows lists the subflows of an MPTCP connection.
func mptcpSubflows(c net.Conn) ([]Subflow, error) {
	sfs, err := mptcp.Subflows(c)
	if err != nil {
		return nil, err
	}
	out := make([]Subflow, len(sfs))
	for i, sf := range sfs {
		out[i] = Subflow{
			ID:            sf.ID,
			Local:         unmap(sf.Local),
			Remote:        unmap(sf.Remote),
			Bytes:         sf.BytesAcked,
			BytesSent:     sf.BytesSent,
			BytesReceived: sf.BytesReceived,
			Retransmits:   sf.TotalRetrans,
			RTT:           sf.RTT,
			Backup:        sf.Backup,
		}
	}
	return out, nil
}

// unmap shows an IPv4-mapped address (a dual-stack listener's view of an
// IPv4 peer) as plain IPv4.
func unmap(a netip.AddrPort) string {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()).String()
}
