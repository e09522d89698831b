package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/stardust-go/stardust/kernel/fs/ext4"
	"github.com/stardust-go/stardust/vmm"
)

// ensureDisk creates the image of a -disk FILE[:GUESTPATH] argument as an
// empty ext4 file system (mke2fs -t ext4) if FILE does not exist.
func ensureDisk(spec, size string) error {
	file, _ := vmm.DiskSpec(spec, 0)
	if file == "" {
		return fmt.Errorf("-disk %q: want FILE[:GUESTPATH]", spec)
	}
	if _, err := os.Stat(file); err == nil {
		return nil
	}
	n, err := parseSize(size)
	if err != nil {
		return fmt.Errorf("-disk-size %q: %v", size, err)
	}
	if err := ext4.CreateImage(file, n, ""); err != nil {
		return fmt.Errorf("creating %s: %v", file, err)
	}
	return nil
}

// parseSize reads sizes like 64M, 1G, 512K or plain bytes.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("not a size")
	}
	return n * mult, nil
}
