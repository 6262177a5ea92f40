package storage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrNoKernelNBD means the running kernel has no nbd driver (not built in,
// no module): the kernel client cannot run here, the libnbd one can.
var ErrNoKernelNBD = errors.New("kernel has no nbd module")

// LoadNBD makes sure the kernel's nbd driver is there, loading the module
// if needed. It returns an error wrapping ErrNoKernelNBD if it cannot be.
func LoadNBD() error {
	if _, err := os.Stat("/sys/module/nbd"); err == nil {
		return nil
	}
	out, err := exec.Command("modprobe", "nbd", "nbds_max=16").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w (modprobe nbd: %s): use the libnbd client (fio's nbd engine), or a kernel with CONFIG_BLK_DEV_NBD", ErrNoKernelNBD, strings.TrimSpace(string(out)))
	}
	if _, err := os.Stat("/sys/module/nbd"); err != nil {
		return fmt.Errorf("%w (modprobe nbd succeeded but /sys/module/nbd is missing)", ErrNoKernelNBD)
	}
	return nil
}

// freeNBD returns the first /dev/nbdN with no connection.
func freeNBD() (string, error) {
	for i := 0; ; i++ {
		sys := fmt.Sprintf("/sys/block/nbd%d", i)
		if _, err := os.Stat(sys); err != nil {
			return "", fmt.Errorf("no free nbd device (/dev/nbd0 to /dev/nbd%d are connected)", i-1)
		}
		if _, err := os.Stat(filepath.Join(sys, "pid")); errors.Is(err, os.ErrNotExist) {
			return "/dev/nbd" + strconv.Itoa(i), nil
		}
	}
}

// connectKernel connects a free /dev/nbdN with nbd-client, one
// connection per fio job, to the relay at addr.
func connectKernel(ctx context.Context, cfg *Config, addr *net.TCPAddr) (string, error) {
	dev, err := freeNBD()
	if err != nil {
		return "", err
	}
	conns := 1
	for _, w := range cfg.Workloads {
		conns = max(conns, w.Jobs)
	}
	cmd := exec.Command("nbd-client", addr.IP.String(), strconv.Itoa(addr.Port), dev,
		"-name", "storage", "-block-size", "4096", "-connections", strconv.Itoa(conns))
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := runCmd(cctx, cmd); err != nil {
		return "", fmt.Errorf("nbd-client %s: %w", dev, err)
	}
	pid := filepath.Join("/sys/block", filepath.Base(dev), "pid")
	for i := 0; ; i++ {
		if _, err := os.Stat(pid); err == nil {
			return dev, nil
		}
		if i == 100 {
			disconnectKernel(dev)
			return "", fmt.Errorf("nbd-client returned but %s is not connected (no %s)", dev, pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// disconnectKernel disconnects dev (nbd-client -d).
func disconnectKernel(dev string) error {
	out, err := exec.Command("nbd-client", "-d", dev).CombinedOutput()
	if err != nil {
		return fmt.Errorf("nbd-client -d %s: %v: %s", dev, err, strings.TrimSpace(string(out)))
	}
	return nil
}
