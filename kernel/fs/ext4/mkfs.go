package ext4

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
)

// FindTool finds an e2fsprogs program (mke2fs, e2fsck, debugfs): on PATH,
// or in /usr/sbin and /sbin, which a non-root user's PATH often lacks.
func FindTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin/", "/sbin/"} {
		if _, err := os.Stat(dir + name); err == nil {
			return dir + name, nil
		}
	}
	return "", fmt.Errorf("ext4: %s not found (install e2fsprogs)", name)
}

// CreateImage makes an ext4 disk image of size bytes at path with the
// host's mke2fs (e2fsprogs), populated from srcDir when it is not empty.
// It is a host-side helper for `stardust disk create` and tests; the kernel
// never calls it. The features are mke2fs's ext4 defaults (see
// /etc/mke2fs.conf), which is exactly the set Stardust supports.
func CreateImage(path string, size int64, srcDir string, extraArgs ...string) error {
	if size <= 0 {
		return fmt.Errorf("ext4: image size must be positive")
	}
	mkfs, err := FindTool("mke2fs")
	if err != nil {
		return err
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
