package units

import "fmt"

// Bytes formats n bytes with IEC units and three significant digits:
// "512 B", "1.50 KiB", "20.0 MiB", "196 MiB".
func Bytes(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	switch {
	case i == 0 || n >= 100:
		return fmt.Sprintf("%.0f %s", n, units[i])
	case n < 10:
		return fmt.Sprintf("%.2f %s", n, units[i])
	}
	return fmt.Sprintf("%.1f %s", n, units[i])
}

// Bits formats a rate in bits per second like iperf3, with SI units and
// three significant digits: "0.00 bits/sec", "94.1 Mbits/sec".
func Bits(bps float64) string {
	u := "bits/sec"
	for _, next := range []string{"Kbits/sec", "Mbits/sec", "Gbits/sec", "Tbits/sec"} {
		if bps < 1000 {
			break
		}
		bps /= 1000
		u = next
	}
	switch {
	case bps < 10:
		return fmt.Sprintf("%.2f %s", bps, u)
	case bps < 100:
		return fmt.Sprintf("%.1f %s", bps, u)
	}
	return fmt.Sprintf("%.0f %s", bps, u)
}
