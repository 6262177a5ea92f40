package nstest

import "os"

// Emulated reports whether the test runs in a kernel matrix guest under qemu
// TCG emulation (internal/vmtest sets MPTCPKIT_VM_ACCEL=tcg there), where
// everything runs an order of magnitude slower: timing goals are logged, not
// checked, and activity floors are lowered. Guest says which kernel it is.
func Emulated() (emulated bool, guest string) {
	return os.Getenv("MPTCPKIT_VM_ACCEL") == "tcg", os.Getenv("MPTCPKIT_VM")
}
