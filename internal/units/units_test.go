package units

import "testing"

func TestBytes(t *testing.T) {
	for n, want := range map[float64]string{0: "0 B", 1023: "1023 B", 1024: "1.00 KiB", 1536: "1.50 KiB", 20 << 20: "20.0 MiB", 196 << 20: "196 MiB", 3 << 30: "3.00 GiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%v) = %q, want %q", n, got, want)
		}
	}
}

func TestBits(t *testing.T) {
	for n, want := range map[float64]string{0: "0.00 bits/sec", 999: "999 bits/sec", 94.1e6: "94.1 Mbits/sec", 1.5e9: "1.50 Gbits/sec"} {
		if got := Bits(n); got != want {
			t.Errorf("Bits(%v) = %q, want %q", n, got, want)
		}
	}
}
