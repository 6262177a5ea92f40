package mptcp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Subflow is one TCP subflow of an MPTCP connection.
type Subflow struct {
	// ID is the kernel's subflow id (MPTCP_FULL_INFO, 6.5+: 1 for the
	// initial subflow, then counting up per connection). On older kernels
	// it is the subflow's position in the kernel's list, from 1.
	ID            uint8
	Local, Remote netip.AddrPort
	RTT, RTTVar   time.Duration
	Cwnd, MSS     uint32
	BytesSent     uint64 // includes retransmitted bytes
	BytesAcked    uint64
	BytesReceived uint64
	TotalRetrans  uint32
	DeliveryRate  uint64 // bytes/s
	// Backup is the subflow's backup priority, local or remote (MP_PRIO /
	// MP_JOIN backup bit), where the kernel says so: see Diag.
	Backup   bool
	TCPState uint8 // TCP_ESTABLISHED = 1, …

	// KernelID is the full 32-bit subflow id (ID truncates it).
	KernelID uint32
	// BytesRetrans is tcpi_bytes_retrans.
	BytesRetrans uint64
	// TCP is the decoded struct tcp_info the fields above come from.
	TCP *TCPInfo
	// Diag reports whether the socket-diagnostics lookup below succeeded
	// (it needs CAP_NET_ADMIN in the socket's namespace); only then are
	// Backup, LocalID and RemoteID meaningful.
	Diag bool
	// LocalID and RemoteID are the MPTCP address ids of the two ends
	// (0 = the initial addresses), from socket diagnostics.
	LocalID, RemoteID uint8
	// BackupLocal and BackupRemote split Backup by which end asked.
	BackupLocal, BackupRemote bool
}

// Subflows returns the subflows of an MPTCP connection with their addresses
// and TCP state. It reads them atomically with MPTCP_FULL_INFO (Linux 6.5+)
// and, on older kernels (5.16+), with MPTCP_SUBFLOW_ADDRS and MPTCP_TCPINFO,
// retrying when the subflow list changes between the two reads. A connection
// not using MPTCP gives a *StateError wrapping ErrNotMPTCP.
func Subflows(conn any) ([]Subflow, error) {
	sfs, _, err := subflows(conn, false)
	return sfs, err
}

// Snapshot returns Info and Subflows of conn together. With MPTCP_FULL_INFO
// (Linux 6.5+) both come from one call, taken under the socket lock, so the
// connection counters and the subflows describe the same instant; on older
// kernels they are read one after the other.
func Snapshot(conn any) (*ConnInfo, []Subflow, error) {
	sfs, info, err := subflows(conn, false)
	if err != nil {
		return nil, nil, err
	}
	if info == nil {
		if info, err = Info(conn); err != nil {
			return nil, nil, err
		}
	}
	return info, sfs, nil
}

func subflows(conn any, legacy bool) ([]Subflow, *ConnInfo, error) {
	var (
		sfs  []Subflow
		info *ConnInfo
		nsFD = -1
	)
	err := control(conn, func(fd uintptr, s *sockInfo) error {
		if s.protocol != ipprotoMPTCP {
			return &StateError{}
		}
		var err error
		if !legacy {
			sfs, info, err = fullInfo(fd)
			legacy = isFullInfoMissing(err)
		}
		if legacy {
			sfs, err = subflowsLegacy(fd)
		}
		if err == nil {
			if r, e := unix.IoctlRetInt(int(fd), ioctlSIOCGSKNS); e == nil {
				nsFD = r
			}
		}
		return err
	})
	if err != nil {
		return nil, nil, explainNotMPTCP(conn, err)
	}
	if nsFD >= 0 {
		defer unix.Close(nsFD)
		lookupDiag(nsFD, sfs)
	}
	return sfs, info, nil
}

// isFullInfoMissing: kernels before 6.5 answer an unknown SOL_MPTCP option
// with EOPNOTSUPP.
func isFullInfoMissing(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP)
}

const (
	subflowDataSize  = 16                   // struct mptcp_subflow_data
	sockaddrStorage  = 128                  // struct __kernel_sockaddr_storage
	subflowAddrsSize = 2 * sockaddrStorage  // struct mptcp_subflow_addrs
	subflowInfoSize  = 8 + subflowAddrsSize // struct mptcp_subflow_info (u32 id, pad, addrs)
	fullInfoHdrSize  = 40                   // struct mptcp_full_info up to mptcp_info
	fullInfoSize     = fullInfoHdrSize + InfoSize6_10
)

// fullInfo reads MPTCP_FULL_INFO, growing the arrays until every subflow
// fits.
func fullInfo(fd uintptr) ([]Subflow, *ConnInfo, error) {
	n := 8
	for range 4 {
		sfinfo := make([]byte, n*subflowInfoSize)
		tcpinfo := make([]byte, n*tcpInfoBuf)
		hdr := make([]byte, fullInfoSize)
		le := binary.NativeEndian
		le.PutUint32(hdr[4:], tcpInfoBuf)       // size_tcpinfo_user
		le.PutUint32(hdr[12:], subflowInfoSize) // size_sfinfo_user
		le.PutUint32(hdr[20:], uint32(n))       // size_arrays_user
		le.PutUint64(hdr[24:], uint64(uintptr(unsafe.Pointer(&sfinfo[0]))))
		le.PutUint64(hdr[32:], uint64(uintptr(unsafe.Pointer(&tcpinfo[0]))))
		l, err := getsockopt(fd, solMPTCP, optFullInfo, hdr)
		runtime.KeepAlive(sfinfo)
		runtime.KeepAlive(tcpinfo)
		if err != nil {
			if errors.Is(err, unix.ENOPROTOOPT) {
				return nil, nil, solMPTCPError("MPTCP_FULL_INFO", err)
			}
			return nil, nil, fmt.Errorf("mptcp: getsockopt MPTCP_FULL_INFO: %w", err)
		}
		sfs, more, err := parseFullInfo(hdr[:l], sfinfo, tcpinfo, n)
		if err != nil {
			return nil, nil, err
		}
		if more <= n {
			var info *ConnInfo
			if l >= fullInfoHdrSize+InfoSize5_9 {
				if info, err = ParseInfo(hdr[fullInfoHdrSize:l]); err != nil {
					return nil, nil, err
				}
			}
			return sfs, info, nil
		}
		if more > maxSubflowsQuery {
			more = maxSubflowsQuery
		}
		n = more
	}
	return nil, nil, errors.New("mptcp: MPTCP_FULL_INFO: subflow count kept changing")
}

// parseFullInfo decodes the answer to MPTCP_FULL_INFO: hdr is struct
// mptcp_full_info as returned (optlen bytes), sfinfo and tcpinfo the arrays
// its pointers referred to, n their capacity in elements. It returns the
// subflows and the kernel's subflow count (more than n: call again with
// bigger arrays).
func parseFullInfo(hdr, sfinfo, tcpinfo []byte, n int) ([]Subflow, int, error) {
	if len(hdr) < fullInfoHdrSize {
		return nil, 0, fmt.Errorf("mptcp: MPTCP_FULL_INFO answer too short: %d bytes", len(hdr))
	}
	le := binary.NativeEndian
	tcpStride := int(le.Uint32(hdr[4:]))
	sfStride := int(le.Uint32(hdr[12:]))
	num := int(le.Uint32(hdr[16:]))
	if num > n {
		return nil, num, nil
	}
	if sfStride < 4 || sfStride*num > len(sfinfo) || tcpStride*num > len(tcpinfo) {
		return nil, 0, fmt.Errorf("mptcp: MPTCP_FULL_INFO: bad element sizes %d/%d for %d subflows", sfStride, tcpStride, num)
	}
	sfs := make([]Subflow, 0, num)
	for i := range num {
		sf := Subflow{}
		e := sfinfo[i*sfStride : (i+1)*sfStride]
		sf.KernelID = le.Uint32(e)
		sf.ID = uint8(sf.KernelID)
		if len(e) >= subflowInfoSize {
			sf.Local, sf.Remote = parseSockaddr(e[8:]), parseSockaddr(e[8+sockaddrStorage:])
		}
		if tcpStride >= tcpInfoMin {
			ti, err := ParseTCPInfo(tcpinfo[i*tcpStride : (i+1)*tcpStride])
			if err != nil {
				return nil, 0, err
			}
			sf.setTCP(ti)
		}
		sfs = append(sfs, sf)
	}
	return sfs, num, nil
}

func (sf *Subflow) setTCP(ti *TCPInfo) {
	sf.TCP = ti
	sf.RTT, sf.RTTVar = ti.RTT, ti.RTTVar
	sf.Cwnd, sf.MSS = ti.SndCwnd, ti.SndMSS
	sf.BytesSent, sf.BytesAcked, sf.BytesReceived = ti.BytesSent, ti.BytesAcked, ti.BytesReceived
	sf.BytesRetrans = ti.BytesRetrans
	sf.TotalRetrans = ti.TotalRetrans
	sf.DeliveryRate = ti.DeliveryRate
	sf.TCPState = ti.State
}

// putSubflowData pre-fills struct mptcp_subflow_data: the kernel rejects
// the call (EINVAL) unless size_subflow_data and size_user are set and the
// kernel-owned fields are zero.
func putSubflowData(b []byte, sizeUser int) {
	le := binary.NativeEndian
	clear(b[:subflowDataSize])
	le.PutUint32(b[0:], subflowDataSize)
	le.PutUint32(b[12:], uint32(sizeUser))
}

// subflowArray reads one of the MPTCP_TCPINFO/MPTCP_SUBFLOW_ADDRS arrays.
// It returns the elements (each of the kernel's element size) and the
// kernel's subflow count.
func subflowArray(fd uintptr, opt, elem int) ([][]byte, int, error) {
	n := 8
	for range 4 {
		buf := make([]byte, subflowDataSize+n*elem)
		putSubflowData(buf, elem)
		l, err := getsockopt(fd, solMPTCP, opt, buf)
		if err != nil {
			return nil, 0, err
		}
		els, num, err := parseSubflowData(buf[:l])
		if err != nil {
			return nil, 0, err
		}
		if num <= n {
			return els, num, nil
		}
		n = min(num, maxSubflowsQuery)
	}
	return nil, 0, errors.New("subflow count kept changing")
}

// parseSubflowData splits the answer to MPTCP_TCPINFO/MPTCP_SUBFLOW_ADDRS
// (struct mptcp_subflow_data + elements) into elements.
func parseSubflowData(b []byte) ([][]byte, int, error) {
	if len(b) < subflowDataSize {
		return nil, 0, fmt.Errorf("mptcp: struct mptcp_subflow_data too short: %d bytes", len(b))
	}
	le := binary.NativeEndian
	hsz := int(le.Uint32(b[0:]))
	num := int(le.Uint32(b[4:]))
	elem := int(le.Uint32(b[12:]))
	if hsz < subflowDataSize || hsz > len(b) {
		return nil, 0, fmt.Errorf("mptcp: struct mptcp_subflow_data: bad header size %d", hsz)
	}
	data := b[hsz:]
	if elem == 0 {
		return nil, num, nil
	}
	var els [][]byte
	for len(data) >= elem && len(els) < num {
		els = append(els, data[:elem])
		data = data[elem:]
	}
	return els, num, nil
}

// subflowsLegacy reads subflows the pre-6.5 way: addresses and tcp_info in
// two calls, matched by position; it retries if the two disagree.
func subflowsLegacy(fd uintptr) ([]Subflow, error) {
	for range 3 {
		addrs, na, err := subflowArray(fd, optSubflowAddrs, subflowAddrsSize)
		if err != nil {
			if errors.Is(err, unix.ENOPROTOOPT) || errors.Is(err, unix.EOPNOTSUPP) {
				return nil, solMPTCPError("MPTCP_SUBFLOW_ADDRS", err)
			}
			return nil, fmt.Errorf("mptcp: getsockopt MPTCP_SUBFLOW_ADDRS: %w", err)
		}
		tis, nt, err := subflowArray(fd, optTCPInfo, tcpInfoBuf)
		if err != nil {
			return nil, fmt.Errorf("mptcp: getsockopt MPTCP_TCPINFO: %w", err)
		}
		if na != nt || len(addrs) != na || len(tis) != nt {
			continue // a subflow came or went between the two calls
		}
		sfs := make([]Subflow, 0, na)
		for i := range na {
			sf := Subflow{ID: uint8(i + 1), KernelID: uint32(i + 1)}
			if len(addrs[i]) >= subflowAddrsSize {
				sf.Local, sf.Remote = parseSockaddr(addrs[i]), parseSockaddr(addrs[i][sockaddrStorage:])
			}
			ti, err := ParseTCPInfo(tis[i])
			if err != nil {
				return nil, err
			}
			sf.setTCP(ti)
			sfs = append(sfs, sf)
		}
		return sfs, nil
	}
	return nil, errors.New("mptcp: subflows kept changing between MPTCP_SUBFLOW_ADDRS and MPTCP_TCPINFO")
}

// parseSockaddr decodes a sockaddr_in or sockaddr_in6 at the start of b.
func parseSockaddr(b []byte) netip.AddrPort {
	if len(b) < 2 {
		return netip.AddrPort{}
	}
	switch binary.NativeEndian.Uint16(b) {
	case unix.AF_INET:
		if len(b) >= 8 {
			return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), binary.BigEndian.Uint16(b[2:]))
		}
	case unix.AF_INET6:
		if len(b) >= 24 {
			a := netip.AddrFrom16([16]byte(b[8:24]))
			if len(b) >= 28 {
				if scope := binary.NativeEndian.Uint32(b[24:]); scope != 0 && a.IsLinkLocalUnicast() {
					a = a.WithZone(fmt.Sprint(scope))
				}
			}
			return netip.AddrPortFrom(a, binary.BigEndian.Uint16(b[2:]))
		}
	}
	return netip.AddrPort{}
}
