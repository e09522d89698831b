package virtio

import (
	"errors"
	"fmt"
)

// Device status bits (§2.1).
const (
	StatusAcknowledge = 1
	StatusDriver      = 2
	StatusDriverOK    = 4
	StatusFeaturesOK  = 8
	StatusNeedsReset  = 64
	StatusFailed      = 128
)

// Device-independent feature bits (§6).
const (
	FeatureRingIndirectDesc = 28
	FeatureRingEventIdx     = 29
	FeatureVersion1         = 32
	FeatureAccessPlatform   = 33
	FeatureAnyLayout        = 27 // legacy only; implied by VERSION_1
)

// Interrupt status bits, as virtio-mmio's InterruptStatus and the PCI ISR
// report them.
const (
	InterruptUsedBuffer   = 1
	InterruptConfigChange = 2
)

// Transport is how a driver reaches a device: virtio-mmio (MMIO in this
// package) or virtio-pci. Config offsets are within the device-specific
// configuration space.
type Transport interface {
	// Legacy reports a pre-1.0 device: 32 feature bits, no
	// FEATURES_OK step, a 10-byte virtio-net header without
	// num_buffers.
	Legacy() bool
	DeviceID() uint32
	DeviceFeatures() uint64
	SetDriverFeatures(f uint64)
	Status() uint8
	// SetStatus writes the status register; 0 resets the device.
	SetStatus(s uint8)
	ReadConfig8(off int) uint8
	ReadConfig16(off int) uint16
	ReadConfig32(off int) uint32
	// ConfigGeneration changes whenever the device changes its
	// configuration; multi-byte reads retry until it is stable.
	ConfigGeneration() uint32
	// MaxQueueSize returns the largest size queue q supports; 0 means
	// the queue does not exist.
	MaxQueueSize(q int) int
	// SetupQueue gives the device queue q's rings and enables it.
	SetupQueue(q int, vq *Queue) error
	// Notify tells the device queue q has new available buffers.
	Notify(q int)
	// InterruptStatus reads and acknowledges the interrupt causes
	// (InterruptUsedBuffer, InterruptConfigChange).
	InterruptStatus() uint32
}

// negotiate runs the initialization sequence of §3.1.1 up to the point
// where queues are set up: reset, ACKNOWLEDGE, DRIVER, feature
// negotiation and (modern devices) FEATURES_OK. It returns the features in
// use. required are features the driver cannot work without.
func negotiate(t Transport, wanted, required uint64) (uint64, error) {
	t.SetStatus(0)
	t.SetStatus(StatusAcknowledge)
	t.SetStatus(StatusAcknowledge | StatusDriver)
	offered := t.DeviceFeatures()
	if !t.Legacy() {
		// A modern transport must use the 1.x interface (§6.1).
		wanted |= 1 << FeatureVersion1
		required |= 1 << FeatureVersion1
	}
	f := offered & wanted
	if f&required != required {
		t.SetStatus(StatusFailed)
		return 0, fmt.Errorf("virtio: device lacks required features %#x", required&^f)
	}
	t.SetDriverFeatures(f)
	if !t.Legacy() {
		t.SetStatus(StatusAcknowledge | StatusDriver | StatusFeaturesOK)
		if t.Status()&StatusFeaturesOK == 0 {
			t.SetStatus(StatusFailed)
			return 0, errors.New("virtio: device refused our feature set")
		}
	}
	return f, nil
}

// driverOK completes initialization (§3.1.1 step 8): the device is live.
func driverOK(t Transport) {
	s := uint8(StatusAcknowledge | StatusDriver | StatusDriverOK)
	if !t.Legacy() {
		s |= StatusFeaturesOK
	}
	t.SetStatus(s)
}

// readConfigStable reads n config bytes at off, retrying until the
// configuration generation is the same before and after (§4.1.4.3.1), so
// that a multi-byte field such as a MAC address is never torn.
func readConfigStable(t Transport, off, n int) []byte {
	b := make([]byte, n)
	for {
		gen := t.ConfigGeneration()
		for i := range b {
			b[i] = t.ReadConfig8(off + i)
		}
		if t.ConfigGeneration() == gen {
			return b
		}
	}
}
