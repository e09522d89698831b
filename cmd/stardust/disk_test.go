package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stardust-go/stardust/kernel/fs/ext4"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"512K": 512 << 10, "64M": 64 << 20, "2G": 2 << 30, "4096": 4096} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "M", "-1M", "0", "12X", "1.5G"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q): no error", bad)
		}
	}
}

// TestEnsureDisk: a missing image is created as ext4 of the given size; an
// existing one is left alone.
func TestEnsureDisk(t *testing.T) {
	if _, err := ext4.FindTool("mke2fs"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	img := filepath.Join(t.TempDir(), "vol.img")
	if err := ensureDisk(img+":/data", "16M"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(img)
	if err != nil || fi.Size() != 16<<20 {
		t.Fatalf("created %v, %v", fi, err)
	}
	b, _ := os.ReadFile(img)
	if b[1024+0x38] != 0x53 || b[1024+0x39] != 0xEF {
		t.Fatal("no ext4 superblock magic")
	}
	os.WriteFile(img, []byte("keep"), 0o644)
	if err := ensureDisk(img, "16M"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(img); string(b) != "keep" {
		t.Fatal("an existing image was overwritten")
	}
	if err := ensureDisk(filepath.Join(t.TempDir(), "x.img"), "lots"); err == nil {
		t.Fatal("bad size accepted")
	}
}
