package bench

import (
	"errors"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	solMPTCP      = 284
	mptcpInfoOpt  = 1
	ipprotoMPTCP  = 262
	stateMPTCP    = "mptcp"
	stateFallback = "fallback"
	stateTCP      = "tcp"
)

// connStat is what the kernel says about one data connection.
type connStat struct {
	State             string
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

// sockState says whether c is an MPTCP socket using MPTCP ("mptcp"), an
// MPTCP socket that fell back to TCP ("fallback") or a TCP socket ("tcp").
func sockState(c any) string {
	st := stateTCP
	control(c, func(fd int) error {
		proto, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
		if err != nil || proto != ipprotoMPTCP {
			return err
		}
		// MPTCP_INFO fails with EOPNOTSUPP/ENOPROTOOPT once fallen back.
		_, err = unix.GetsockoptString(fd, solMPTCP, mptcpInfoOpt)
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOPROTOOPT) {
			st = stateFallback
		} else {
			st = stateMPTCP
		}
		return nil
	})
	return st
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
	s := connStat{State: sockState(c), CongestionControl: congestion(c)}
	if s.State == stateMPTCP {
		sfs, err := mptcpSubflows(c)
		if err == nil {
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

// mptcpSubflows lists the subflows of an MPTCP connection.
func mptcpSubflows(c net.Conn) ([]Subflow, error) {
	return nil, errors.New("subflow information not available in this build")
}
