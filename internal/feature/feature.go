package feature

import (
	"errors"
	"fmt"
	"strings"
	"sync"
)

// ErrNotSupported is wrapped by every error that means the running kernel
// (or the platform) lacks what was asked for.
var ErrNotSupported = errors.New("not supported")

// UnsupportedFeatureError names a feature the running kernel lacks and
// what it would take to have it. It is ErrNotSupported for errors.Is and
// unwraps to Err, the error that revealed the lack (EOPNOTSUPP, ENOENT…).
type UnsupportedFeatureError struct {
	// Name is the missing feature: "MPTCP_INFO", "MPTCP path manager".
	Name string
	// MinimumVersion is the first Linux release that has it ("5.16"), or
	// "" when no release alone brings it.
	MinimumVersion string
	// Config is the kernel build option it needs ("CONFIG_MPTCP"), or "".
	Config string
	// Err is the cause, or nil.
	Err error
}

// Error reads "<Name> not supported by this kernel (needs Linux <v> or
// later, built with <Config>=y): <Err>", leaving out what is unset. The
// words "not supported by this kernel" are always there: scripts and tests
// look for them.
func (e *UnsupportedFeatureError) Error() string {
	var b strings.Builder
	b.WriteString(e.Name)
	b.WriteString(" not supported by this kernel")
	switch {
	case e.MinimumVersion != "" && e.Config != "":
		fmt.Fprintf(&b, " (needs Linux %s or later, built with %s=y)", e.MinimumVersion, e.Config)
	case e.MinimumVersion != "":
		fmt.Fprintf(&b, " (needs Linux %s or later)", e.MinimumVersion)
	case e.Config != "":
		fmt.Fprintf(&b, " (needs a kernel built with %s=y)", e.Config)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Is makes an UnsupportedFeatureError match ErrNotSupported.
func (e *UnsupportedFeatureError) Is(target error) bool { return target == ErrNotSupported }

// Unwrap returns the cause.
func (e *UnsupportedFeatureError) Unwrap() error { return e.Err }

// A Probe asks the running kernel once whether it has a feature and keeps
// the answer: the kernel does not change under a running process. A Probe
// is safe for concurrent use; declare it as a package-level variable.
type Probe struct {
	// Name, MinimumVersion and Config fill the UnsupportedFeatureError
	// that Result returns when the feature is missing.
	Name, MinimumVersion, Config string
	// Fn returns nil when the kernel has the feature, an error wrapping
	// ErrNotSupported when it has not, and any other error when it cannot
	// tell. Fn runs at most once.
	Fn func() error

	once sync.Once
	err  error
}

// Result runs the probe on its first call and returns its answer: nil, an
// *UnsupportedFeatureError, or the error that kept Fn from telling.
func (p *Probe) Result() error {
	p.once.Do(func() {
		err := p.Fn()
		if err == nil || !errors.Is(err, ErrNotSupported) {
			p.err = err
			return
		}
		fe := &UnsupportedFeatureError{Name: p.Name, MinimumVersion: p.MinimumVersion, Config: p.Config}
		if err != ErrNotSupported {
			fe.Err = err
		}
		p.err = fe
	})
	return p.err
}

// KernelAtLeast reports whether the running kernel is Linux major.minor or
// newer. A release it cannot parse counts as new: a feature test then lets
// the kernel's own answer decide.
func KernelAtLeast(major, minor int) bool {
	return ReleaseAtLeast(KernelRelease(), major, minor)
}

// ReleaseAtLeast parses a release such as "6.18.44-fc" and reports whether
// it is major.minor or newer; an unparsable release counts as new.
func ReleaseAtLeast(release string, major, minor int) bool {
	var ma, mi int
	if n, _ := fmt.Sscanf(release, "%d.%d", &ma, &mi); n < 2 {
		return true
	}
	return ma > major || ma == major && mi >= minor
}
