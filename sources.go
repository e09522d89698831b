// Package stardust carries the kernel's source code inside the stardust
// command, so that `stardust build` can link the kernel into a program in
// any module, wherever the command was installed from.
package stardust

import "embed"

// Source is the Stardust module's go.mod, go.sum, kernel/ tree and the
// packages the kernel imports from outside it (image/rootfs).
//
//go:embed go.mod go.sum kernel image/rootfs
var Source embed.FS

// ModulePath is the Stardust module's path.
const ModulePath = "github.com/stardust-go/stardust"

// KernelPackage is the package `stardust build` links into programs.
const KernelPackage = ModulePath + "/kernel"

// NetworkPackage is linked in too when a program uses package net (or
// with `stardust build -with net`).
const NetworkPackage = ModulePath + "/kernel/network"

// DisksPackage (ext4 volumes on virtio-blk) and SharesPackage (host
// directories over virtio-9p) are optional parts of an image, linked in
// by `stardust build -with disks,shares`.
const (
	DisksPackage  = ModulePath + "/kernel/disks"
	SharesPackage = ModulePath + "/kernel/shares"
)

// DevicesPackage is the device layer (virtio over MMIO and PCI, and
// virtio-rng feeding the kernel's generator): linked with every part that
// drives devices, or alone with `stardust build -with entropy`.
const DevicesPackage = ModulePath + "/kernel/devices"
