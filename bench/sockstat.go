package bench

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/mptcp"
)

// The report's words for a data connection's state (Stream.State).
const (
	stateMPTCP    = "mptcp"
	stateFallback = "fallback"
	stateTCP      = "tcp"
)

// connStat is what the kernel says about one data connection.
type connStat struct {
	// State is mptcp.StateOf's answer; StateErr its error, if it failed.
	State             mptcp.State
	StateErr          error
	CongestionControl string
	Retransmits       int64
	Subflows          Subflows
}

// word is the report's name for the state: "mptcp" for an MPTCP socket
// using MPTCP, "fallback" for one that fell back to TCP, "tcp" for a TCP
// socket (or one whose state could not be read).
func (s connStat) word() string {
	switch {
	case s.StateErr != nil:
		return stateTCP
	case s.State == mptcp.Active:
		return stateMPTCP
	case s.State == mptcp.Fallback:
		return stateFallback
	}
	return stateTCP
}

// reason says why the connection is not using MPTCP, if it says ("" for
// MPTCP and for a TCP socket that did not ask for it).
func (s connStat) reason() string {
	switch {
	case s.StateErr != nil:
		return s.StateErr.Error()
	case s.State == mptcp.Active, s.State == mptcp.NotRequested:
		return ""
	}
	return s.State.Reason()
}

// control runs fn on c's descriptor.
func control(c net.Conn, fn func(fd int) error) error {
	rc, err := mptcp.RawConn(c)
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
func congestion(c net.Conn) string {
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
func setCongestion(c net.Conn, name string) error {
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

// tcpSubflow describes a TCP (or fallen-back) connection as one subflow.
func tcpSubflow(c net.Conn) (mptcp.Subflow, error) {
	var ti *unix.TCPInfo
	err := control(c, func(fd int) error {
		var err error
		ti, err = unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		return err
	})
	if err != nil {
		return mptcp.Subflow{}, err
	}
	return mptcp.Subflow{
		Local:         addrPort(c.LocalAddr()),
		Remote:        addrPort(c.RemoteAddr()),
		BytesAcked:    ti.Bytes_acked,
		BytesSent:     ti.Bytes_sent,
		BytesReceived: ti.Bytes_received,
		TotalRetrans:  ti.Total_retrans,
		RTT:           time.Duration(ti.Rtt) * time.Microsecond,
	}, nil
}

// stat collects connStat for c.
func stat(c net.Conn) connStat {
	s := connStat{CongestionControl: congestion(c)}
	s.State, s.StateErr = mptcp.StateOf(c)
	if s.word() == stateMPTCP {
		if sfs, err := mptcpSubflows(c); err == nil {
			s.Subflows = sfs
			for _, sf := range sfs {
				s.Retransmits += int64(sf.TotalRetrans)
			}
			return s
		}
	}
	if sf, err := tcpSubflow(c); err == nil {
		s.Subflows = Subflows{sf}
		s.Retransmits = int64(sf.TotalRetrans)
	}
	return s
}

// subflowsOf lists c's subflows (one for a TCP connection), or nil.
func subflowsOf(c net.Conn) Subflows {
	if sfs, err := mptcpSubflows(c); err == nil {
		return sfs
	}
	if sf, err := tcpSubflow(c); err == nil {
		return Subflows{sf}
	}
	return nil
}

// mptcpSubflows lists the subflows of an MPTCP connection, with their
// addresses unmapped.
func mptcpSubflows(c net.Conn) (Subflows, error) {
	sfs, err := mptcp.Subflows(c)
	if err != nil {
		return nil, err
	}
	for i := range sfs {
		sfs[i].Local, sfs[i].Remote = unmap(sfs[i].Local), unmap(sfs[i].Remote)
	}
	return sfs, nil
}

// unmap shows an IPv4-mapped address (a dual-stack listener's view of an
// IPv4 peer) as plain IPv4.
func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// addrPort is a socket address of a connection, IPv4-mapped addresses
// unmapped (as net.TCPAddr.String shows them).
func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return unmap(ta.AddrPort())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return unmap(ap)
}
