package convert_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/mptcpkit/mptcpkit/proxy/convert"
)

func TestReadRequest(t *testing.T) {
	dst := netip.MustParseAddrPort("10.9.0.2:5001")
	ok := convert.AppendConnect(nil, dst)
	withInfo := append([]byte{1, 7, 0x22, 0x63, convert.TypeInfo, 1, 0, 0}, ok[4:]...)
	mut := func(b []byte, i int, v byte) []byte { c := bytes.Clone(b); c[i] = v; return c }
	tests := []struct {
		name string
		in   []byte
		want convert.Request
		code convert.ErrorCode
		err  bool
	}{
		{name: "connect IPv4", in: ok, want: convert.Request{Connect: dst}},
		{name: "connect IPv6", in: convert.AppendConnect(nil, netip.MustParseAddrPort("[2001:db8::1]:443")), want: convert.Request{Connect: netip.MustParseAddrPort("[2001:db8::1]:443")}},
		{name: "info + connect", in: withInfo, want: convert.Request{Info: true, Connect: dst}},
		{name: "bad magic", in: mut(ok, 2, 0), code: convert.ErrMalformedMessage, err: true},
		{name: "version 2", in: mut(ok, 0, 2), code: convert.ErrUnsupportedVersion, err: true},
		{name: "truncated", in: ok[:10], code: convert.ErrMalformedMessage, err: true},
		{name: "TLV longer than message", in: mut(ok, 5, 9), code: convert.ErrMalformedMessage, err: true},
		{name: "zero-length TLV", in: mut(ok, 5, 0), code: convert.ErrMalformedMessage, err: true},
		{name: "cookie", in: mut(ok, 4, convert.TypeCookie), code: convert.ErrUnsupportedMessage, err: true},
		{name: "unknown TLV", in: mut(ok, 4, 99), code: convert.ErrUnsupportedMessage, err: true},
		{name: "TCP options in Connect", in: append(mut(mut(ok, 1, 7), 5, 6), 1, 1, 1, 1), code: convert.ErrUnsupportedTCPOption, err: true},
	}
	for _, tt := range tests {
		got, err := convert.ReadRequest(bytes.NewReader(tt.in))
		if !tt.err {
			if err != nil || got != tt.want {
				t.Errorf("%s: %+v, %v; want %+v", tt.name, got, err, tt.want)
			}
			continue
		}
		var ce *convert.Error
		if !errors.As(err, &ce) || ce.Code != tt.code {
			t.Errorf("%s: error %v, want code %v", tt.name, err, tt.code)
		}
	}
}

func TestReplies(t *testing.T) {
	if err := convert.ReadReply(bytes.NewReader(convert.AppendOK(nil, true))); err != nil {
		t.Errorf("OK reply: %v", err)
	}
	var ce *convert.Error
	err := convert.ReadReply(bytes.NewReader(convert.AppendError(nil, convert.ErrNotAuthorized)))
	if !errors.As(err, &ce) || ce.Code != convert.ErrNotAuthorized {
		t.Errorf("error reply: %v", err)
	}
}

// FuzzReadRequest: no input panics or makes the reader take more than the
// declared (bounded) length; a Connect it accepts re-encodes to the input.
func FuzzReadRequest(f *testing.F) {
	f.Add(convert.AppendConnect(nil, netip.MustParseAddrPort("10.9.0.2:5001")))
	f.Add([]byte{1, 7, 0x22, 0x63, 1, 1, 0, 0, 10, 5, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		req, err := convert.ReadRequest(r)
		read := len(in) - r.Len()
		if read > convert.MaxSize {
			t.Fatalf("read %d bytes", read)
		}
		if err != nil || req.Info || !req.Connect.IsValid() {
			return
		}
		if read >= 4 && int(in[1])*4 != read {
			t.Fatalf("read %d bytes, header says %d", read, int(in[1])*4)
		}
		if read == 24 && binary.BigEndian.Uint16(in[2:]) == convert.Magic {
			if out := convert.AppendConnect(nil, req.Connect); !bytes.Equal(out[6:], in[6:24]) && req.Connect.Addr().Is6() {
				t.Fatalf("re-encoding differs: %x vs %x", out, in[:24])
			}
		}
	})
}
