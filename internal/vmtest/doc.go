// Package vmtest boots an installed Linux kernel in a qemu virtual machine
// with a small initramfs and runs a shell script there, so tests can run on
// kernels other than the host's (the kernel matrix in .ci/run).
//
// The initramfs is an uncompressed newc cpio written in Go: busybox-static
// as /bin/sh and every applet, an init that mounts proc, sys, devtmpfs,
// devpts, cgroup2 (/sys/fs/cgroup), bpffs (/sys/fs/bpf), debugfs, tracefs and
// tmpfs on /run (/tmp is the initramfs's own, so a checkout under /tmp
// stays visible), then loads [DefaultModules] plus Config.Modules
// (dependencies resolved with the kernel's modules.dep, .ko.xz decompressed
// with xz), brings lo up, runs Config.Script and prints [ExitSentinel] with
// its status before rebooting (qemu runs with -no-reboot, so it exits).
// Config.Files and Config.Programs (host programs with their shared
// libraries) are copied in. qemu uses KVM when /dev/kvm can be opened and
// TCG emulation otherwise ([Accel]).
//
// Kernels are the ones installed from Debian packages (/boot/vmlinuz-R and
// /lib/modules/R); [FindKernel] picks one by version prefix.
//
// Example: load the nbd module and run a static program in a 6.12 guest.
//
//	k, err := vmtest.FindKernel("6.12")
//	if err != nil {
//		return err
//	}
//	status, err := vmtest.Run(ctx, vmtest.Config{
//		Kernel:  k,
//		Modules: []string{"nbd"}, // nbd is also in DefaultModules
//		Files:   map[string]string{"/bin/mytest": "/tmp/mytest"}, // built with CGO_ENABLED=0
//		Script:  "exec /bin/mytest -test.v",
//		Output:  os.Stdout,
//	})
//
// For Go test packages, the vmrun command does all of it:
//
//	go run ./internal/vmtest/cmd/vmrun -kernel 6.12 ./force/... -- -test.run TestRunGo
//
// Inside the guest, MPTCPKIT_VM is the kernel release and MPTCPKIT_VM_ACCEL
// is kvm or tcg: tests that measure throughput skip under tcg.
package vmtest
