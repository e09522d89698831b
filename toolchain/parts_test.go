package toolchain

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseParts(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
	}{
		{nil, nil},
		{[]string{"disks"}, []string{"disks"}},
		{[]string{"shares,disks"}, []string{"disks", "shares"}},
		{[]string{"shares", " disks , net", "disks"}, []string{"disks", "net", "shares"}},
		{[]string{""}, nil},
	} {
		got, err := ParseParts(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseParts(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	_, err := ParseParts([]string{"disks,volumes"})
	if err == nil || !strings.Contains(err.Error(), `"volumes"`) || !strings.Contains(err.Error(), "disks, entropy, net, shares") {
		t.Errorf("unknown part: error %v; want it to name the part and list disks, entropy, net, shares", err)
	}
}

// TestImageParts builds hello without parts and with disks and shares, and
// reads back from each image which parts it links.
func TestImageParts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds images")
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		with []string
		want []string
	}{
		{nil, nil},
		// Drivers link the device layer, and with it virtio-rng.
		{[]string{"shares,disks"}, []string{"disks", "entropy", "shares"}},
		{[]string{"entropy"}, []string{"entropy"}},
	} {
		img := filepath.Join(dir, "hello.img")
		if err := Build(Options{Pkg: "../examples/hello", Output: img, With: tc.with}); err != nil {
			t.Fatal(err)
		}
		got, err := ImageParts(img)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("built with %q: ImageParts = %q, %v; want %q", tc.with, got, err, tc.want)
		}
	}
	if _, err := ImageParts(filepath.Join(dir, "missing.img")); err == nil {
		t.Error("ImageParts of a missing file: no error")
	}
	if err := Build(Options{Pkg: "../examples/hello", Output: filepath.Join(dir, "x.img"), With: []string{"ext4"}}); err == nil || !strings.Contains(err.Error(), "unknown part") {
		t.Errorf("Build with an unknown part: %v", err)
	}
}
