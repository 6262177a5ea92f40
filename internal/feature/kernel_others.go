//go:build !linux

package feature

// KernelRelease returns "" where there is no Linux kernel to ask.
func KernelRelease() string { return "" }
