package lab

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseRate(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint64
		err  bool
	}{
		{"100mbit", 100e6, false},
		{"100Mbit", 100e6, false},
		{"100mbps", 800e6, false}, // tc: megabytes per second
		{"12MBps", 96e6, false},
		{"1kibit", 1024, false},
		{"100Mbit/s", 0, true}, // not a tc unit
		{"100M", 0, true},      // ambiguous: refused
		{"100", 0, true},       // no unit: refused
		{"2.5mbit", 2.5e6, false},
		{"1gbit", 1e9, false},
		{"1Gbps", 8e9, false},
		{"500kbit", 500e3, false},
		{"64000bit", 64000, false},
		{"0", 0, true},
		{"-5mbit", 0, true},
		{"fast", 0, true},
		{"2tbit", 0, true},
		{"", 0, true},
	} {
		got, err := ParseRate(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestParseLossDelay(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want float64
		err  bool
	}{{"1%", 1, false}, {"0.5", 0.5, false}, {"10%", 10, false}, {"0.01%", 0.01, false}, {"101%", 0, true}, {"-1", 0, true}, {"lots", 0, true}} {
		got, err := ParseLoss(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseLoss(%q) = %g, %v; want %g, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
	for _, tt := range []struct {
		in   string
		want time.Duration
		err  bool
	}{{"20ms", 20 * time.Millisecond, false}, {"20", 0, true}, {"1.5", 0, true}, {"1.5ms", 1500 * time.Microsecond, false}, {"0", 0, false}, {"-1ms", 0, true}, {"soon", 0, true}} {
		got, err := ParseDelay(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseDelay(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestLossThreshold(t *testing.T) {
	for loss, want := range map[float64]uint32{0: 0, 1: 100, 0.01: 1, 10: 1000, 12.345: 1235, 100: 10000} {
		if got := lossThreshold(loss); got != want {
			t.Errorf("lossThreshold(%g) = %d, want %d", loss, got, want)
		}
	}
}

func TestNormalize(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		want Config
		err  string
	}{
		{"defaults", Config{Name: "a"}, Config{Name: "a", Paths: 2, Rate: []uint64{100e6, 100e6}, Loss: []float64{0, 0}, Delay: []time.Duration{0, 0}, Queue: DefaultQueue}, ""},
		{"one value for all", Config{Name: "a", Paths: 3, Rate: []uint64{20e6}, Loss: []float64{1}},
			Config{Name: "a", Paths: 3, Rate: []uint64{20e6, 20e6, 20e6}, Loss: []float64{1, 1, 1}, Delay: []time.Duration{0, 0, 0}, Queue: DefaultQueue}, ""},
		{"per path", Config{Name: "a", Paths: 2, Rate: []uint64{100e6, 20e6}, Delay: []time.Duration{0, time.Millisecond}, Queue: 7},
			Config{Name: "a", Paths: 2, Rate: []uint64{100e6, 20e6}, Loss: []float64{0, 0}, Delay: []time.Duration{0, time.Millisecond}, Queue: 7}, ""},
		{"too many paths", Config{Name: "a", Paths: 9}, Config{}, "9 paths"},
		{"wrong count", Config{Name: "a", Paths: 3, Rate: []uint64{1e6, 2e6}}, Config{}, "2 rate values for 3 paths"},
		{"bad name", Config{Name: "A-1"}, Config{}, "not valid"},
		{"long name", Config{Name: "abcdefghi"}, Config{}, "not valid"},
		{"bad loss", Config{Name: "a", Loss: []float64{101}}, Config{}, "loss 101%"},
		{"bad cc", Config{Name: "a", CC: "bb r"}, Config{}, "not a valid name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.normalize()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, tt.cfg); diff != "" {
				t.Errorf("normalized (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNames(t *testing.T) {
	// The longest lab name still gives interface names within 15 bytes.
	n := strings.Repeat("z", MaxNameLen)
	for _, s := range []string{clientIf(n, MaxPaths), serverIf(n, MaxPaths), routerCIf(n, MaxPaths), routerSIf(n, MaxPaths), tunIf(n, MaxPaths, true), tunIf(n, MaxPaths, false)} {
		if len(s) > 15 {
			t.Errorf("interface name %q is %d bytes, over 15", s, len(s))
		}
	}
}

// FuzzRate checks that FormatRate and ParseRate round-trip, and that
// ParseRate never accepts a rate outside the range it promises.
func FuzzRate(f *testing.F) {
	for _, s := range []string{"100mbit", "1gbit", "500kbit", "64000bit", "2.5M", "1e3", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		if r < 1 || r > 1e12 {
			t.Fatalf("ParseRate(%q) = %d: out of range", s, r)
		}
		back, err := ParseRate(FormatRate(r))
		if err != nil || back != r {
			t.Fatalf("ParseRate(FormatRate(%d) = %q) = %d, %v", r, FormatRate(r), back, err)
		}
	})
}
