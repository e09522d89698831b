// Exercises mmap of regular files and flock, on the tmpfs at /tmp and, if
// one is attached, on the ext4 volume at /data: each check prints one line.
package main

import (
	"bytes"
	"fmt"
	"os"
	"syscall"
)

func main() {
	dirs := []string{"/tmp"}
	if _, err := os.Stat("/data"); err == nil {
		dirs = append(dirs, "/data")
	}
	for _, dir := range dirs {
		check(dir)
	}
}

func check(dir string) {
	path := dir + "/mapped"
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	must(err)
	content := bytes.Repeat([]byte("0123456789abcdef"), 1024) // 16 KiB
	_, err = f.Write(content)
	must(err)
	fd := int(f.Fd())

	// A read-only shared mapping sees the file, and later pwrites.
	ro, err := syscall.Mmap(fd, 0, 32768, syscall.PROT_READ, syscall.MAP_SHARED)
	must(err)
	fmt.Printf("%s ro content: %v\n", dir, bytes.Equal(ro[:len(content)], content))
	_, err = f.WriteAt([]byte("PWRITE"), 4096)
	must(err)
	_, err = f.WriteAt([]byte("GROWN"), 20000) // past the old end, inside the mapping
	must(err)
	fmt.Printf("%s ro sees pwrite: %v %v\n", dir, string(ro[4096:4102]) == "PWRITE", string(ro[20000:20005]) == "GROWN")

	// A writable shared mapping: stores reach the file on msync, and
	// read(2) sees them even before.
	rw, err := syscall.Mmap(fd, 8192, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	must(err)
	copy(rw, "STORED")
	buf := make([]byte, 6)
	_, err = f.ReadAt(buf, 8192)
	must(err)
	fmt.Printf("%s read sees store: %q\n", dir, buf)
	must(msync(rw))
	must(syscall.Munmap(rw))

	// A private mapping's stores stay private.
	pr, err := syscall.Mmap(fd, 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE)
	must(err)
	copy(pr, "PRIVATE")
	_, err = f.ReadAt(buf, 0)
	must(err)
	fmt.Printf("%s private stays private: %v\n", dir, string(buf) == "012345" && string(pr[:7]) == "PRIVATE")
	must(syscall.Munmap(pr))

	// The read-only mapping outlives the descriptor.
	must(f.Close())
	fmt.Printf("%s after close: %q\n", dir, ro[8192:8198])
	must(syscall.Munmap(ro))
	b, err := os.ReadFile(path)
	must(err)
	fmt.Printf("%s file: %q %q %q\n", dir, b[4096:4102], b[8192:8198], b[20000:20005])

	// Errors: mapping a write-only file, or a directory.
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	must(err)
	_, err = syscall.Mmap(int(w.Fd()), 0, 4096, syscall.PROT_READ, syscall.MAP_SHARED)
	fmt.Printf("%s write-only: %v\n", dir, err)
	w.Close()
	d, err := os.Open(dir)
	must(err)
	_, err = syscall.Mmap(int(d.Fd()), 0, 4096, syscall.PROT_READ, syscall.MAP_PRIVATE)
	fmt.Printf("%s directory: %v\n", dir, err)
	d.Close()

	// flock: a second description cannot take an exclusive lock.
	a, _ := os.Open(path)
	c, _ := os.Open(path)
	must(syscall.Flock(int(a.Fd()), syscall.LOCK_EX|syscall.LOCK_NB))
	err = syscall.Flock(int(c.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	fmt.Printf("%s flock conflict: %v\n", dir, err)
	a.Close()
	fmt.Printf("%s flock after close: %v\n", dir, syscall.Flock(int(c.Fd()), syscall.LOCK_EX|syscall.LOCK_NB))
	c.Close()
}

func msync(b []byte) error {
	_, _, e := syscall.Syscall(syscall.SYS_MSYNC, uintptr(unsafePointer(b)), uintptr(len(b)), syscall.MS_SYNC)
	if e != 0 {
		return e
	}
	return nil
}

func must(err error) {
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}
