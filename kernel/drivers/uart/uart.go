// Package uart drives the 16550 serial port COM1, the console of a Stardust
// VM: the program's standard output and error go here, and so do kernel
// messages.
//
// Execution context: trap context (//go:nosplit, polled, no allocation), so
// it can print from anywhere, including a kernel panic.
package uart

import "github.com/stardust-go/stardust/kernel/arch/amd64"

const com1 = 0x3F8

// Register offsets from the base port.
const (
	regData       = 0 // THR/RBR; divisor low when DLAB=1
	regIntEnable  = 1 // IER; divisor high when DLAB=1
	regFIFO       = 2
	regLineCtl    = 3
	regModemCtl   = 4
	regLineStatus = 5

	lsrDataReady = 0x01
	lsrTHREmpty  = 0x20
)

// Init sets COM1 to 115200 baud, 8 data bits, no parity, one stop bit,
// FIFOs on, interrupts off.
//
//go:nosplit
func Init() {
	amd64.Outb(com1+regIntEnable, 0)
	amd64.Outb(com1+regLineCtl, 0x80) // DLAB: next two writes set the divisor
	amd64.Outb(com1+regData, 1)       // 115200 / 1
	amd64.Outb(com1+regIntEnable, 0)
	amd64.Outb(com1+regLineCtl, 0x03) // 8N1
	amd64.Outb(com1+regFIFO, 0xC7)    // enable and clear FIFOs
	amd64.Outb(com1+regModemCtl, 0x03)
}

// WriteByte sends one byte, waiting until the transmitter can take it.
//
//go:nosplit
func WriteByte(b byte) {
	for i := 0; i < 1<<20 && amd64.Inb(com1+regLineStatus)&lsrTHREmpty == 0; i++ {
		amd64.Pause()
	}
	amd64.Outb(com1+regData, b)
}

// Write sends p.
//
//go:nosplit
func Write(p []byte) {
	for _, b := range p {
		WriteByte(b)
	}
}

// WriteString sends s.
//
//go:nosplit
func WriteString(s string) {
	for i := 0; i < len(s); i++ {
		WriteByte(s[i])
	}
}

// ReadByte returns a received byte, if one is waiting.
//
//go:nosplit
func ReadByte() (byte, bool) {
	if amd64.Inb(com1+regLineStatus)&lsrDataReady == 0 {
		return 0, false
	}
	return amd64.Inb(com1 + regData), true
}
