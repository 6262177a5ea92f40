// Package units formats quantities for text output in one family: bytes in
// IEC units (B, KiB, MiB, GiB, TiB; ratio 1024) and rates in SI bits per
// second as iperf3 prints them (bits/sec, Kbits/sec, Mbits/sec; ratio
// 1000), as networks count them. JSON output carries raw numbers (bytes, bits per second), never
// these strings.
package units
