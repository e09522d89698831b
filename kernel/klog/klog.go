// Package klog prints kernel messages on the serial console without
// formatting machinery: strings, decimal and hexadecimal numbers.
//
// Execution context: trap context (//go:nosplit, no allocation).
package klog

import "github.com/stardust-go/stardust/kernel/drivers/uart"

// Str prints s.
//
//go:nosplit
func Str(s string) { uart.WriteString(s) }

// Bytes prints b.
//
//go:nosplit
func Bytes(b []byte) { uart.Write(b) }

// Dec prints v in decimal.
//
//go:nosplit
func Dec(v int64) {
	var buf [20]byte
	u := uint64(v)
	if v < 0 {
		uart.WriteByte('-')
		u = uint64(-v)
	}
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	uart.Write(buf[i:])
}

// Hex prints v as 0x followed by 16 hex digits.
//
//go:nosplit
func Hex(v uint64) {
	const digits = "0123456789abcdef"
	var buf [18]byte
	buf[0], buf[1] = '0', 'x'
	for i := 17; i >= 2; i-- {
		buf[i] = digits[v&15]
		v >>= 4
	}
	uart.Write(buf[:])
}

// Prefix is printed before every kernel message line, so the host tools can
// tell kernel messages from the program's output.
const Prefix = "[stardust] "

// Line prints a kernel message: the prefix, s and a newline.
//
//go:nosplit
func Line(s string) {
	Str(Prefix)
	Str(s)
	Str("\n")
}
