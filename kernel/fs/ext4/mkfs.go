package ext4

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
)

// CreateImage makes an ext4 disk image of size bytes at path with the
// host's mke2fs (e2fsprogs), populated from srcDir when it is not empty.
// It is a host-side helper for `stardust disk create` and tests; the kernel
// never calls it. The features are mke2fs's ext4 defaults (see
// /etc/mke2fs.conf), which is exactly the set Stardust supports.
func CreateImage(path string, size int64, srcDir string, extraArgs ...string) error {
	if size <= 0 {
		return fmt.Errorf("ext4: image size must be positive")
	}
	mkfs, err := exec.LookPath("mke2fs")
	if err != nil {
		for _, p := range []string{"/usr/sbin/mke2fs", "/sbin/mke2fs"} {
			if _, e := os.Stat(p); e == nil {
				mkfs, err = p, nil
				break
			}
		}
		if err != nil {
			return fmt.Errorf("ext4: mke2fs not found (install e2fsprogs): %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	f.Close()
	args := []string{"-q", "-F", "-t", "ext4"}
	if srcDir != "" {
		args = append(args, "-d", srcDir)
	}
	args = append(args, extraArgs...)
	args = append(args, path, strconv.FormatInt(size/1024, 10)+"k")
	out, err := exec.Command(mkfs, args...).CombinedOutput()
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("ext4: mke2fs %v: %v\n%s", args, err, out)
	}
	return nil
}
