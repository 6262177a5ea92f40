package lab

import (
	"errors"
	"fmt"
	"strings"
)

// The errors below say what is wrong with a lab and name no command: a
// program adds its own advice (the CLI names the mptcpkit command that
// helps).

// ErrNetNSRef is wrapped by ResolveNetNS's error for a reference that is
// not lab:NAME:client, lab:NAME:server or lab:NAME:dest.
var ErrNetNSRef = errors.New("write lab:NAME:client or lab:NAME:server (or lab:NAME:dest for a lab made with a destination host)")

// ExistsError is Up's error for a name that a lab has already; Up wraps it
// together with ErrExists.
type ExistsError struct {
	Name    string
	Objects []string // what of the lab exists: namespaces, processes, files
}

func (e *ExistsError) Error() string {
	return fmt.Sprintf("lab %q exists (%s)", e.Name, strings.Join(e.Objects, ", "))
}

// NotFoundError says there is no lab Name. Load wraps it together with
// os.ErrNotExist.
type NotFoundError struct {
	Name string
	Path string // the state file that is missing, or ""
}

func (e *NotFoundError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("no lab %q", e.Name)
	}
	return fmt.Sprintf("no lab %q (no %s)", e.Name, e.Path)
}

// DamagedError says the state file of lab Name cannot be read; removing
// the lab (Down) clears it.
type DamagedError struct {
	Name, Path string
	Err        error
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("lab state %s is damaged (%v)", e.Path, e.Err)
}

func (e *DamagedError) Unwrap() error { return e.Err }

// NoDestError says lab Name was made without a destination host
// (Config.Dest), so it has no dest namespace.
type NoDestError struct {
	Name string
}

func (e *NoDestError) Error() string {
	return fmt.Sprintf("lab %s has no destination host", e.Name)
}
