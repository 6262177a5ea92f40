package feature

import (
	"sync"

	"golang.org/x/sys/unix"
)

// KernelRelease returns the running kernel's release (uname -r), read once;
// "" if uname fails.
var KernelRelease = sync.OnceValue(func() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
})
