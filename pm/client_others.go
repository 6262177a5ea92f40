//go:build !linux

package pm

import (
	"fmt"
	"runtime"
)

func newClient(*Config) (osClient, error) {
	return nil, fmt.Errorf("pm: %w: not implemented on %s", ErrNotSupported, runtime.GOOS)
}
