package lab

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Limits of a lab.
const (
	// MaxPaths is the most paths a lab has: the kernel path manager's
	// subflow limit is 8.
	MaxPaths = 8
	// MaxNameLen keeps interface names (mkNAMEcP) within 15 bytes.
	MaxNameLen = 8
	// DefaultRate is the rate of a path when none is given: 100 Mbit/s.
	DefaultRate = 100_000_000
	// DefaultQueue is the pfifo limit (packets) under each HTB class: 100
	// packets is ~12 ms at 100 Mbit/s, ~60 ms at 20 Mbit/s. The kernel's
	// default of 1000 adds ~100 ms of queueing at 20 Mbit under load.
	DefaultQueue = 100
	// DelayLineQueue is how many packets the TUN delay line holds per
	// direction and path before it drops.
	DelayLineQueue = 8192
	// DelayLineCeiling is the throughput (bits/s) above which the TUN
	// delay line itself becomes the bottleneck on our machines (measured
	// ~620 Mbit/s for one flow; more with several flows).
	DelayLineCeiling = 600_000_000
)

// Config describes a lab.
type Config struct {
	// Name names the lab and every object it makes: 1 to 8 of [a-z0-9].
	Name string
	// Paths is the number of paths (1..MaxPaths).
	Paths int
	// Rate, Loss and Delay hold one value per path, or one value for all
	// paths, or nothing (100 Mbit/s, no loss, no delay). Rate is bits/s,
	// Loss a percentage (0..100, fractions to 0.01), Delay one way.
	Rate  []uint64
	Loss  []float64
	Delay []time.Duration
	// Queue is the pfifo limit (packets) of every shaper; 0 = DefaultQueue.
	Queue int
	// CC is the TCP congestion control in both namespaces ("reno", "bbr",
	// "cubic", ...); empty keeps the namespace default (bbr on our hosts,
	// the host's setting elsewhere).
	CC string
	// Dest adds a destination host behind the server: namespace
	// mk-NAME-dest, joined to the server by one unshaped veth, address
	// 10.L.200.2 (the server's side 10.L.200.1). Something for `proxy
	// server` to connect to, so the proxy can be tried on one machine.
	Dest bool
	// Executable runs the delay line ("EXE lab delayline ..."); empty =
	// this program (os.Executable).
	Executable string
	// Logger says what Up does (nil: nothing).
	Logger *slog.Logger
}

// validName is `^[a-z0-9]{1,8}$` without a package-level regexp: compiling
// one at start-up cost every mptcpkit command ~0.4 ms of CPU (issue 12).
func validName(name string) bool {
	if len(name) < 1 || len(name) > MaxNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// CheckName reports whether name is a valid lab name.
func CheckName(name string) error {
	if !validName(name) {
		return fmt.Errorf("lab name %q is not valid: use 1 to %d lowercase letters or digits (it becomes part of interface names, which hold 15 bytes)", name, MaxNameLen)
	}
	return nil
}

// normalize checks c and fills in defaults, returning per-path values.
func (c *Config) normalize() error {
	if err := CheckName(c.Name); err != nil {
		return err
	}
	if c.Paths == 0 {
		c.Paths = 2
	}
	if c.Paths < 1 || c.Paths > MaxPaths {
		return fmt.Errorf("lab: %d paths: want 1 to %d (the kernel path manager handles at most %d subflows)", c.Paths, MaxPaths, MaxPaths)
	}
	var err error
	if c.Rate, err = expand("rate", c.Rate, c.Paths, DefaultRate); err != nil {
		return err
	}
	if c.Loss, err = expand("loss", c.Loss, c.Paths, 0); err != nil {
		return err
	}
	if c.Delay, err = expand("delay", c.Delay, c.Paths, 0); err != nil {
		return err
	}
	for i, r := range c.Rate {
		if r < 10_000 || r > 100_000_000_000 {
			return fmt.Errorf("lab: path %d rate %s: want 10kbit to 100gbit", i+1, FormatRate(r))
		}
	}
	for i, l := range c.Loss {
		if l < 0 || l > 100 {
			return fmt.Errorf("lab: path %d loss %g%%: want 0 to 100%%", i+1, l)
		}
	}
	for i, d := range c.Delay {
		if d < 0 || d > 10*time.Second {
			return fmt.Errorf("lab: path %d delay %v: want 0 to 10s", i+1, d)
		}
	}
	if c.Queue == 0 {
		c.Queue = DefaultQueue
	}
	if c.Queue < 1 || c.Queue > 100_000 {
		return fmt.Errorf("lab: queue %d packets: want 1 to 100000", c.Queue)
	}
	if c.CC != "" && !regexp.MustCompile(`^[a-z0-9_]{1,15}$`).MatchString(c.CC) {
		return fmt.Errorf("lab: congestion control %q is not a valid name (e.g. reno, bbr, cubic)", c.CC)
	}
	return nil
}

func expand[T any](what string, v []T, n int, def T) ([]T, error) {
	switch len(v) {
	case 0:
		out := make([]T, n)
		for i := range out {
			out[i] = def
		}
		return out, nil
	case 1:
		out := make([]T, n)
		for i := range out {
			out[i] = v[0]
		}
		return out, nil
	case n:
		return append([]T(nil), v...), nil
	}
	return nil, fmt.Errorf("lab: %d %s values for %d paths: give one value for all paths or one per path", len(v), what, n)
}

// rateUnits are tc's rate units (tc(8), iproute2's get_rate), matched
// without regard to case as tc does: "bit" units are bits per second, "Bps"
// units BYTES per second (so "100mbps" is 800 Mbit/s, as tc reads it).
var rateUnits = []struct {
	name  string
	scale float64
}{
	{"bit", 1}, {"kibit", 1024}, {"kbit", 1e3}, {"mibit", 1 << 20}, {"mbit", 1e6},
	{"gibit", 1 << 30}, {"gbit", 1e9}, {"tibit", 1 << 40}, {"tbit", 1e12},
	{"bps", 8}, {"kibps", 8 * 1024}, {"kbps", 8e3}, {"mibps", 8 << 20}, {"mbps", 8e6},
	{"gibps", 8 << 30}, {"gbps", 8e9}, {"tibps", 8 << 40}, {"tbps", 8e12},
}

// ParseRate parses a rate with one of tc's units into bits/s: "100mbit",
// "500kbit", "1gbit", "64000bit" (bits per second), or "12mbps", "500kbps"
// (BYTES per second, as tc reads them: 12mbps = 96 Mbit/s). A number
// without a unit is refused, since tc's documentation and tc itself
// disagree on what it means; so are units tc does not know ("100M").
func ParseRate(s string) (uint64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		return 0, fmt.Errorf("rate %q has no unit: write e.g. %smbit (megabits/s) or %smbps (megabytes/s, as tc reads it)", s, t, t)
	}
	num, unit := t[:i], t[i:]
	scale := 0.0
	for _, u := range rateUnits {
		if unit == u.name {
			scale = u.scale
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if scale == 0 || err != nil {
		return 0, fmt.Errorf("rate %q: want a number and one of tc's units, e.g. 100mbit, 500kbit, 1gbit (bits/s) or 12mbps (bytes/s)", s)
	}
	if f <= 0 || f*scale > 1e12 || f*scale < 1 {
		return 0, fmt.Errorf("rate %q: want more than 0 and at most 1tbit", s)
	}
	return uint64(math.Round(f * scale)), nil
}

// RateInBytes reports whether s uses one of tc's bytes-per-second units
// ("mbps"), which people often mean as megabits: callers say how they read it.
func RateInBytes(s string) bool {
	return strings.HasSuffix(strings.ToLower(strings.TrimSpace(s)), "bps")
}

// ParseLoss parses a loss percentage such as "1%", "0.5" or "10%".
func ParseLoss(s string) (float64, error) {
	t := strings.TrimSuffix(strings.TrimSpace(s), "%")
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f > 100 {
		return 0, fmt.Errorf("loss %q: want a percentage from 0 to 100, e.g. 1%% or 0.5%%", s)
	}
	return f, nil
}

// ParseDelay parses a one-way delay such as "20ms" or "1.5ms". A number
// without a unit is refused (except 0): write the unit.
func ParseDelay(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(t, 64); err == nil && f != 0 {
		return 0, fmt.Errorf("delay %q has no unit: write e.g. %sms (or us, s)", s, t)
	} else if err == nil {
		return 0, nil
	}
	d, err := time.ParseDuration(t)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("delay %q: want a duration such as 20ms, 500us or 1s", s)
	}
	return d, nil
}

// ParseList splits a comma-separated list and parses each item.
func ParseList[T any](s string, parse func(string) (T, error)) ([]T, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty list")
	}
	var out []T
	for _, f := range strings.Split(s, ",") {
		v, err := parse(f)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// FormatRate prints bits/s the way tc does (100Mbit, 1Gbit, 500Kbit),
// exactly: ParseRate(FormatRate(r)) == r.
func FormatRate(r uint64) string {
	switch {
	case r >= 1e9 && r%1e9 == 0:
		return fmt.Sprintf("%dGbit", r/1e9)
	case r >= 1e6 && r%1e6 == 0:
		return fmt.Sprintf("%dMbit", r/1e6)
	case r >= 1e3 && r%1e3 == 0:
		return fmt.Sprintf("%dKbit", r/1e3)
	}
	return fmt.Sprintf("%dbit", r)
}
