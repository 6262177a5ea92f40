package lab

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/internal/proc"
	"github.com/mptcpkit/mptcpkit/netns"
)

// DelayLineEnv is set in the environment of a delay-line process; a test
// binary's TestMain checks it and calls DelayLineMain (a program that is
// not mptcpkit has no `lab delayline` command).
const DelayLineEnv = "MPTCPKIT_LAB_DELAYLINE"

// DelaySpec is one direction of one path: the TUN device in a router
// namespace and how long to hold each packet.
type DelaySpec struct {
	NetNS string
	Tun   string
	Delay time.Duration
}

func (d DelaySpec) String() string { return d.NetNS + "/" + d.Tun + "/" + d.Delay.String() }

func parseDelaySpec(s string) (DelaySpec, error) {
	f := strings.Split(s, "/")
	if len(f) != 3 {
		return DelaySpec{}, fmt.Errorf("delay spec %q: want NETNS/TUN/DELAY", s)
	}
	d, err := time.ParseDuration(f[2])
	if err != nil || d < 0 {
		return DelaySpec{}, fmt.Errorf("delay spec %q: bad delay", s)
	}
	return DelaySpec{NetNS: f[0], Tun: f[1], Delay: d}, nil
}

func delaySpecs(st *Testbed) []DelaySpec {
	var out []DelaySpec
	for _, p := range st.Paths {
		if p.Router == "" {
			continue
		}
		out = append(out,
			DelaySpec{p.Router, tunIf(st.Name, p.Index, true), p.Delay},
			DelaySpec{p.Router, tunIf(st.Name, p.Index, false), p.Delay})
	}
	return out
}

// delayLineArgs is the command line of lab name's delay line; Down finds
// the process by it.
func delayLineArgs(name string, specs []DelaySpec) []string {
	args := []string{"lab", "delayline", "--name", name}
	for _, s := range specs {
		args = append(args, s.String())
	}
	return args
}

func logPath(name string) string { return filepath.Join(StateDir, name+".delayline.log") }

// startDelayLine starts the delay line as a detached process (it must
// outlive `lab up`) and waits until it has attached to every TUN device.
func startDelayLine(ctx context.Context, exe string, st *Testbed) (int, error) {
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return 0, err
		}
	}
	logf, err := os.OpenFile(logPath(st.Name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	cmd := exec.Command(exe, delayLineArgs(st.Name, delaySpecs(st))...)
	cmd.Env = append(os.Environ(), DelayLineEnv+"="+st.Name)
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start delay line %s: %w", exe, err)
	}
	go cmd.Wait() // reap it when Down kills it, should this process still run
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "ready" {
			err = fmt.Errorf("unexpected %q", line)
		}
		ready <- err
	}()
	select {
	case err = <-ready:
	case <-time.After(10 * time.Second):
		err = errors.New("no answer in 10s")
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		cmd.Process.Kill()
		b, _ := os.ReadFile(logPath(st.Name))
		return 0, fmt.Errorf("delay line did not start (%v): %s", err, strings.TrimSpace(string(b)))
	}
	return cmd.Process.Pid, nil
}

// DelayLineMain is the delay-line process: args are
// `lab delayline --name NAME NETNS/TUN/DELAY...`. It prints "ready" on
// stdout once attached to every TUN device, then forwards packets until
// SIGTERM/SIGINT. It returns the exit status.
func DelayLineMain(args []string) int {
	if len(args) >= 2 && args[0] == "lab" && args[1] == "delayline" {
		args = args[2:]
	}
	fs := flag.NewFlagSet("lab delayline", flag.ContinueOnError)
	name := fs.String("name", "", "lab name")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var specs []DelaySpec
	for _, a := range fs.Args() {
		s, err := parseDelaySpec(a)
		if err != nil {
			log.Error("delay line", "err", err)
			return 2
		}
		specs = append(specs, s)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGHUP: Impair changed a path's delay in the lab's state file.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	delays := make([]atomic.Int64, len(specs))
	for i, s := range specs {
		delays[i].Store(int64(s.Delay))
	}
	go func() {
		for range hup {
			st, err := Load(*name)
			if err != nil {
				log.Error("delay line: reload", "err", err)
				continue
			}
			for i, s := range specs {
				for _, n := range delaySpecs(st) {
					if n.NetNS == s.NetNS && n.Tun == s.Tun {
						delays[i].Store(int64(n.Delay))
					}
				}
			}
			log.Info("delay line: delays reloaded")
		}
	}()
	err := runDelayLine(ctx, log.With("lab", *name), specs, delays, func() {
		fmt.Fprintln(os.Stdout, "ready")
		os.Stdout.Close()
	})
	if err != nil {
		log.Error("delay line", "err", err)
		return 1
	}
	return 0
}

// RunDelayLine attaches to each spec's TUN device and writes every packet
// read from it back after the spec's delay, until ctx is done. ready is
// called once all devices are attached.
func RunDelayLine(ctx context.Context, log *slog.Logger, specs []DelaySpec, ready func()) error {
	delays := make([]atomic.Int64, len(specs))
	for i, s := range specs {
		delays[i].Store(int64(s.Delay))
	}
	return runDelayLine(ctx, log, specs, delays, ready)
}

// runDelayLine is RunDelayLine with delays that may change while it runs.
func runDelayLine(ctx context.Context, log *slog.Logger, specs []DelaySpec, delays []atomic.Int64, ready func()) error {
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, s := range specs {
		ns, err := netns.Open(s.NetNS)
		if err != nil {
			return err
		}
		var f *os.File
		err = ns.Do(func() error {
			var err error
			f, err = openTun(s.Tun)
			return err
		})
		ns.Close()
		if err != nil {
			return fmt.Errorf("attach to %s in %s: %w", s.Tun, s.NetNS, err)
		}
		files = append(files, f)
	}
	if ready != nil {
		ready()
	}
	errc := make(chan error, len(specs))
	var dropped atomic.Uint64
	for i, s := range specs {
		_ = s
		go func() { errc <- delay(ctx, files[i], &delays[i], &dropped) }()
	}
	select {
	case <-ctx.Done():
		log.Info("delay line stopping", "dropped", dropped.Load())
		return nil
	case err := <-errc:
		return err
	}
}

func openTun(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF: %w", err)
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun:"+name), nil
}

type packet struct {
	due time.Time
	b   []byte
	n   int
}

// delay runs one direction: a reader stamps each packet with the time it
// is due and queues it (a FIFO is time-ordered: the delay is constant), a
// writer waits for each packet's time and writes it back.
func delay(ctx context.Context, f *os.File, d *atomic.Int64, dropped *atomic.Uint64) error {
	q := make(chan packet, DelayLineQueue)
	free := make(chan []byte, DelayLineQueue+16)
	for range DelayLineQueue + 16 {
		free <- make([]byte, 2048)
	}
	errc := make(chan error, 2)
	go func() {
		for {
			var b []byte
			select {
			case b = <-free:
			default:
				b = make([]byte, 2048)
			}
			n, err := f.Read(b)
			if err != nil {
				errc <- fmt.Errorf("read %s: %w", f.Name(), err)
				return
			}
			select {
			case q <- packet{due: time.Now().Add(time.Duration(d.Load())), b: b, n: n}:
			default:
				dropped.Add(1)
			}
		}
	}()
	go func() {
		t := time.NewTimer(time.Hour)
		for {
			var p packet
			select {
			case p = <-q:
			case <-ctx.Done():
				errc <- nil
				return
			}
			if w := time.Until(p.due); w > 0 {
				t.Reset(w)
				select {
				case <-t.C:
				case <-ctx.Done():
					errc <- nil
					return
				}
			}
			if _, err := f.Write(p.b[:p.n]); err != nil && !errors.Is(err, unix.EINVAL) {
				errc <- fmt.Errorf("write %s: %w", f.Name(), err)
				return
			}
			select {
			case free <- p.b:
			default:
			}
		}
	}()
	return <-errc
}

// delayLinePIDs finds lab name's delay-line processes by command line.
func delayLinePIDs(name string) []int {
	pids, _ := proc.Find(func(pid int) bool {
		args, err := proc.Cmdline(pid)
		return err == nil && isDelayLineOf(args, name) && proc.Alive(pid)
	})
	return pids
}

// isDelayLineOf reports whether args run lab name's delay line.
func isDelayLineOf(args []string, name string) bool {
	for i := 0; i+3 < len(args); i++ {
		if args[i] == "lab" && args[i+1] == "delayline" && args[i+2] == "--name" && args[i+3] == name {
			return true
		}
	}
	return false
}
