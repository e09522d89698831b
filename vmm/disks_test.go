package vmm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDiskArgs(t *testing.T) {
	img := filepath.Join(t.TempDir(), "a,b.img")
	os.WriteFile(img, nil, 0o644)
	c := Config{Disks: []string{img + ":/srv/db", img}}
	args, opts, err := c.disks()
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(args, " ")
	for _, want := range []string{
		"virtio-mmio.force-legacy=false",
		"file=" + strings.ReplaceAll(img, ",", ",,") + ",format=raw,if=none,id=disk0,cache=writeback",
		"virtio-blk-device,drive=disk1,serial=disk1",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("args %q lack %q", joined, want)
		}
	}
	if strings.Join(opts, " ") != "disk.disk0=/srv/db disk.disk1=/data2" {
		t.Errorf("kernel options %q", opts)
	}
	q35 := Config{Disks: []string{img}, Machine: "q35"}
	if args, _, err := q35.disks(); err != nil || !strings.Contains(strings.Join(args, " "), "virtio-blk-pci,disable-legacy=on,drive=disk0") {
		t.Errorf("q35 disk args %q, %v", args, err)
	}
	for _, bad := range []Config{
		{Disks: []string{img + ":relative"}},
		{Disks: []string{":/data"}},
		{Disks: []string{img + ":/with space"}},
		{Disks: []string{filepath.Join(t.TempDir(), "missing.img")}},
	} {
		if _, _, err := bad.disks(); err == nil {
			t.Errorf("%+v: no error", bad.Disks)
		}
	}
}
