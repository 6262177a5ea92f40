package feature

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

func TestUnsupportedFeatureError(t *testing.T) {
	for _, tc := range []struct {
		err  *UnsupportedFeatureError
		want string
	}{
		{&UnsupportedFeatureError{Name: "MPTCP_INFO", MinimumVersion: "5.16", Err: unix.EOPNOTSUPP},
			"MPTCP_INFO not supported by this kernel (needs Linux 5.16 or later): operation not supported"},
		{&UnsupportedFeatureError{Name: "MPTCP path manager", MinimumVersion: "5.7", Config: "CONFIG_MPTCP"},
			"MPTCP path manager not supported by this kernel (needs Linux 5.7 or later, built with CONFIG_MPTCP=y)"},
		{&UnsupportedFeatureError{Name: "BTF", Config: "CONFIG_DEBUG_INFO_BTF"},
			"BTF not supported by this kernel (needs a kernel built with CONFIG_DEBUG_INFO_BTF=y)"},
		{&UnsupportedFeatureError{Name: "trampolines"}, "trampolines not supported by this kernel"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
		wrapped := fmt.Errorf("ctx: %w", tc.err)
		if !errors.Is(wrapped, ErrNotSupported) {
			t.Errorf("%v: not ErrNotSupported", wrapped)
		}
		var fe *UnsupportedFeatureError
		if !errors.As(wrapped, &fe) || fe != tc.err {
			t.Errorf("%v: errors.As does not find the feature error", wrapped)
		}
		if tc.err.Err != nil && !errors.Is(wrapped, tc.err.Err) {
			t.Errorf("%v: does not unwrap to %v", wrapped, tc.err.Err)
		}
	}
	if errors.Is(errors.New("other"), ErrNotSupported) {
		t.Error("an unrelated error is ErrNotSupported")
	}
}

func TestProbeRunsOnce(t *testing.T) {
	var calls atomic.Int32
	p := &Probe{Name: "thing", MinimumVersion: "9.9", Fn: func() error {
		calls.Add(1)
		return fmt.Errorf("no thing: %w", ErrNotSupported)
	}}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			var fe *UnsupportedFeatureError
			if err := p.Result(); !errors.As(err, &fe) || fe.MinimumVersion != "9.9" || fe.Name != "thing" {
				t.Errorf("Result() = %v, want an UnsupportedFeatureError for thing 9.9", err)
			}
		})
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("Fn ran %d times, want 1", n)
	}

	ok := &Probe{Name: "ok", Fn: func() error { return nil }}
	if err := ok.Result(); err != nil {
		t.Errorf("supported probe: %v", err)
	}
	cannot := errors.New("cannot tell")
	unsure := &Probe{Name: "unsure", Fn: func() error { return cannot }}
	if err := unsure.Result(); err != cannot {
		t.Errorf("probe that cannot tell = %v, want %v", err, cannot)
	}
	bare := &Probe{Name: "bare", Fn: func() error { return ErrNotSupported }}
	var fe *UnsupportedFeatureError
	if err := bare.Result(); !errors.As(err, &fe) || fe.Err != nil {
		t.Errorf("bare ErrNotSupported: %v, want a feature error without a cause", err)
	}
}

func TestReleaseAtLeast(t *testing.T) {
	for _, tc := range []struct {
		rel  string
		want bool
	}{
		{"6.18.44-fc", true}, {"5.16.0", true}, {"5.15.0-91-generic", false},
		{"4.19.0", false}, {"5.17", true}, {"weird", true}, {"", true},
	} {
		if got := ReleaseAtLeast(tc.rel, 5, 16); got != tc.want {
			t.Errorf("ReleaseAtLeast(%q, 5, 16) = %v, want %v", tc.rel, got, tc.want)
		}
	}
	if runtime.GOOS == "linux" && KernelRelease() == "" {
		t.Error("KernelRelease() is empty on Linux")
	}
}
