package vmtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// DefaultModules are loaded in every guest (with their dependencies): what
// the mptcpkit tests use that Debian's cloud kernels build as modules.
var DefaultModules = []string{
	"veth", "tun", "dummy", "ifb", "mptcp_diag", "tcp_diag", "inet_diag",
	"sch_netem", "sch_htb", "sch_tbf", "sch_fq", "sch_ingress", "cls_u32", "cls_bpf", "act_mirred",
	"nf_tables", "nft_numgen", "nft_ct", "nft_limit", "nft_reject_inet", "nft_fib_inet",
	"nbd", "tcp_bbr", "xfrm_user", "nfnetlink",
}

// ExitSentinel starts the line the guest's init prints with the script's
// exit status, just before it powers the machine off.
const ExitSentinel = "vmtest-exit-status: "

// Config describes one boot.
type Config struct {
	Kernel *Kernel // from FindKernel
	// Modules are loaded in addition to DefaultModules.
	Modules []string
	// Files are copied into the guest: guest path -> host path. A host
	// directory is copied whole (without .git). Files keep their mode.
	Files map[string]string
	// SkipDirs are names of directories not copied from Files (".git"
	// never is).
	SkipDirs []string
	// Programs are host programs (names looked up in PATH, or paths) copied
	// to the same path in the guest with the shared libraries they load.
	Programs []string
	// Env is exported before Script runs (KEY=VALUE).
	Env []string
	// Script is run by busybox sh in the guest, as root, in /, after proc,
	// sys, devtmpfs, cgroup2, bpffs, debugfs, tracefs and tmpfs on
	// /run are mounted and the modules are loaded. Its exit status is Run's.
	Script string
	// Output receives the guest console (the script's stdout and stderr).
	Output io.Writer
	// MemoryMB and CPUs size the machine (default 1024 and 2).
	MemoryMB, CPUs int
	// Initramfs, if set, is where the initramfs is written (and kept);
	// otherwise a temporary file is used and removed.
	Initramfs string
}

// Accel returns "kvm" when /dev/kvm is usable, else "tcg" (emulation).
func Accel() string {
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err == nil {
		f.Close()
		return "kvm"
	}
	return "tcg"
}

// Run builds the initramfs, boots the kernel in qemu, streams the guest's
// console to cfg.Output and returns the script's exit status. It returns an
// error (and status -1) when the guest did not report a status: it crashed,
// or ctx ended first (qemu is killed then).
func Run(ctx context.Context, cfg Config) (int, error) {
	if cfg.Kernel == nil {
		return -1, errors.New("vmtest: no kernel (use FindKernel)")
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return -1, errors.New("vmtest: qemu-system-x86_64 not found (apt-get install qemu-system-x86)")
	}
	img := cfg.Initramfs
	if img == "" {
		f, err := os.CreateTemp("", "vmtest-initramfs-*.cpio")
		if err != nil {
			return -1, err
		}
		f.Close()
		img = f.Name()
		defer os.Remove(img)
	}
	if err := BuildInitramfs(img, cfg); err != nil {
		return -1, err
	}
	mem, cpus := cfg.MemoryMB, cfg.CPUs
	if mem == 0 {
		mem = 1024
	}
	if cpus == 0 {
		cpus = 2
	}
	accel, cpu := Accel(), "max"
	if accel == "kvm" {
		cpu = "host"
	}
	args := []string{
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-machine", "q35", "-accel", accelOpt(accel), "-cpu", cpu,
		"-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus),
		"-kernel", cfg.Kernel.Image, "-initrd", img,
		"-append", "console=ttyS0 panic=-1 quiet loglevel=3 rdinit=/init",
		"-serial", "stdio", "-nic", "none",
	}
	cmd := exec.CommandContext(ctx, qemu, args...)
	out := cfg.Output
	if out == nil {
		out = io.Discard
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	status := -1
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			l := strings.TrimRight(sc.Text(), "\r")
			if s, ok := strings.CutPrefix(l, ExitSentinel); ok {
				if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
					status = n
					continue
				}
			}
			fmt.Fprintln(out, l)
		}
		io.Copy(io.Discard, pr)
	}()
	err = cmd.Run()
	pw.Close()
	<-done
	if status >= 0 {
		return status, nil
	}
	if ctx.Err() != nil {
		return -1, fmt.Errorf("vmtest: guest on %s killed: %w", cfg.Kernel.Release, ctx.Err())
	}
	return -1, fmt.Errorf("vmtest: guest on %s stopped without reporting a status (qemu: %v): see its console output", cfg.Kernel.Release, err)
}

const initScript = `#!/bin/sh
/bin/busybox --install -s
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs shm /dev/shm
# /tmp stays the initramfs's own (already in memory): a tmpfs mounted over
# it would hide the package directories of a checkout under /tmp.
mkdir -p /tmp && chmod 1777 /tmp
mount -t tmpfs run /run && mkdir -p /run/netns
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
echo 3 > /proc/sys/kernel/printk
while read -r m; do
	insmod "/lib/modules/vmtest/$m" || echo "vmtest: insmod $m failed"
done < /vmtest/modules
ip link set lo up
hostname vmtest
. /vmtest/env
cd /
sh /vmtest/script
st=$?
sync
echo "` + ExitSentinel + `$st"
reboot -f
`

// BuildInitramfs writes the guest's initramfs (an uncompressed newc cpio:
// the kernel unpacks it without spending emulated cycles on decompression)
// to path.
func BuildInitramfs(path string, cfg Config) error {
	t := tree{}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return errors.New("vmtest: busybox not found (apt-get install busybox-static)")
	}
	if libs, err := libraries(bb); err != nil || len(libs) > 0 {
		return fmt.Errorf("vmtest: %s is not static (apt-get install busybox-static)", bb)
	}
	if err := addHostFile(t, "/bin/busybox", bb, nil); err != nil {
		return err
	}
	t.addSymlink("/bin/sh", "busybox")
	for _, d := range []string{"/proc", "/sys", "/dev", "/tmp", "/run", "/root", "/etc", "/var", "/sbin", "/usr/bin", "/usr/sbin"} {
		t.addDir(d)
	}
	t.addSymlink("/var/run", "../run")
	t.addFile("/etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"))
	t.addFile("/etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n"))
	t.addFile("/etc/hosts", 0o644, []byte("127.0.0.1 localhost\n::1 localhost\n"))
	t.addFile("/etc/nsswitch.conf", 0o644, []byte("hosts: files\n"))
	t.addFile("/init", 0o755, []byte(initScript))

	mods, err := cfg.Kernel.ResolveModules(append(append([]string{}, DefaultModules...), cfg.Modules...))
	if err != nil {
		return err
	}
	var list bytes.Buffer
	for _, m := range mods {
		data, err := readModule(filepath.Join(cfg.Kernel.Modules, m))
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(filepath.Base(m), ".xz"), ".zst"), ".gz")
		t.addFile("/lib/modules/vmtest/"+name, 0o644, data)
		fmt.Fprintln(&list, name)
	}
	t.addFile("/vmtest/modules", 0o644, list.Bytes())

	for _, p := range cfg.Programs {
		guest := p // a path, or a name the guest finds where the host does
		if !filepath.IsAbs(p) {
			var err error
			if guest, err = exec.LookPath(p); err != nil {
				return fmt.Errorf("vmtest: program %s: %w", p, err)
			}
		}
		host, err := filepath.EvalSymlinks(guest)
		if err != nil {
			return fmt.Errorf("vmtest: program %s: %w", p, err)
		}
		libs, err := libraries(host)
		if err != nil {
			return err
		}
		if err := addHostFile(t, guest, host, nil); err != nil {
			return err
		}
		for _, l := range libs {
			if err := addHostFile(t, l, l, nil); err != nil {
				return err
			}
		}
	}
	for guest, host := range cfg.Files {
		if err := addHostFile(t, guest, host, cfg.SkipDirs); err != nil {
			return err
		}
	}
	var env bytes.Buffer
	for _, kv := range cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&env, "export %s=%s\n", k, shellQuote(v))
	}
	t.addFile("/vmtest/env", 0o644, env.Bytes())
	t.addFile("/vmtest/script", 0o755, []byte(cfg.Script))

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := t.writeTo(w); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// addHostFile copies host (a file, or a directory recursively without .git)
// to guest, following symlinks.
func addHostFile(t tree, guest, host string, skip []string) error {
	st, err := os.Stat(host)
	if err != nil {
		return fmt.Errorf("vmtest: %w", err)
	}
	if !st.IsDir() {
		data, err := os.ReadFile(host)
		if err != nil {
			return err
		}
		t.addFile(guest, uint32(st.Mode().Perm()), data)
		return nil
	}
	return filepath.WalkDir(host, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(host, p)
		if d.IsDir() {
			if d.Name() == ".git" || slices.Contains(skip, d.Name()) && p != host {
				return filepath.SkipDir
			}
			t.addDir(filepath.Join(guest, rel))
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		t.addFile(filepath.Join(guest, rel), uint32(info.Mode().Perm()), data)
		return nil
	})
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// accelOpt is qemu's -accel value. Under TCG the vCPUs share one host
// thread (thread=single): with one thread per vCPU, code the kernel patches
// live (static keys flipped by nftables, BPF trampolines) can still run from
// another vCPU's stale translation with the patch's int3 in it, and the
// guest panicked once that way ("Oops: int3" in ip_rcv on 6.12).
func accelOpt(accel string) string {
	if accel == "tcg" {
		return "tcg,thread=single"
	}
	return accel
}
