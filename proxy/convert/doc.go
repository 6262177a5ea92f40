// Package convert is the wire format of the 0-RTT TCP Convert Protocol
// (RFC 8803), server side: the Convert message a client puts at the start of
// its stream (in the SYN with TCP Fast Open) to ask a Transport Converter to
// connect to a destination, and the converter's answer.
//
// A message is a 4-byte header {version 1, total length in 32-bit words,
// magic 0x2263} followed by TLVs {type u8, length u8 in 32-bit words,
// value}. This package knows the Info (1), Connect (10) and Error (30) TLVs;
// the others (Extended TCP Header 20, Supported TCP Extensions 21, Cookie 22)
// are recognised and reported as unsupported. Every length is bounded: a
// message is at most 255 words (1020 bytes).
package convert
