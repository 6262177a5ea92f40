package mptcp

import (
	"encoding/binary"
	"flag"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"unsafe"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
)

var record = flag.Bool("record", false, "capture kernel buffers of a live two-subflow connection into testdata/")

// TestRecordBuffers captures the raw answers of this kernel to MPTCP_INFO,
// MPTCP_FULL_INFO, MPTCP_SUBFLOW_ADDRS and MPTCP_TCPINFO for the decoder
// tests (go test -run TestRecordBuffers -record ./mptcp).
func TestRecordBuffers(t *testing.T) {
	if !*record {
		t.Skip("recording only with -record")
	}
	p := newTwoPaths(t)
	_, accepted := listen(t, p.server, "10.0.1.2:5299", true)
	c := dialIn(t, p.client, "10.0.1.2:5299")
	s := accept(t, accepted)
	c.Write(make([]byte, 1000))
	io.ReadFull(s, make([]byte, 1000))
	nstest.WaitSubflows(t, c, Subflows, 2)
	files := map[string][]byte{}
	err := control(c, func(fd uintptr, _ *sockInfo) error {
		buf := make([]byte, 256)
		n, err := getsockopt(fd, solMPTCP, optInfo, buf)
		if err != nil {
			return err
		}
		files["mptcp_info.bin"] = buf[:n]

		const cap = 4
		sf := make([]byte, cap*subflowInfoSize)
		ti := make([]byte, cap*tcpInfoBuf)
		hdr := make([]byte, fullInfoSize)
		le := binary.NativeEndian
		le.PutUint32(hdr[4:], tcpInfoBuf)
		le.PutUint32(hdr[12:], subflowInfoSize)
		le.PutUint32(hdr[20:], cap)
		le.PutUint64(hdr[24:], uint64(uintptr(unsafe.Pointer(&sf[0]))))
		le.PutUint64(hdr[32:], uint64(uintptr(unsafe.Pointer(&ti[0]))))
		n, err = getsockopt(fd, solMPTCP, optFullInfo, hdr)
		runtime.KeepAlive(sf)
		runtime.KeepAlive(ti)
		if err != nil {
			return err
		}
		clear(hdr[24:40]) // pointers mean nothing on disk
		files["full_info_hdr.bin"] = hdr[:n]
		num := int(le.Uint32(hdr[16:]))
		files["full_info_sfinfo.bin"] = sf[:num*int(le.Uint32(hdr[12:]))]
		files["full_info_tcpinfo.bin"] = ti[:num*int(le.Uint32(hdr[4:]))]

		for name, o := range map[string][2]int{"subflow_addrs.bin": {optSubflowAddrs, subflowAddrsSize}, "tcpinfo.bin": {optTCPInfo, tcpInfoBuf}} {
			b := make([]byte, subflowDataSize+cap*o[1])
			putSubflowData(b, o[1])
			n, err := getsockopt(fd, solMPTCP, o[0], b)
			if err != nil {
				return err
			}
			files[name] = b[:n]
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join("testdata", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes", name, len(b))
	}
}
