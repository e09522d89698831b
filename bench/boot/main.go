// Command boot measures what the boot issue promises and prints a table:
// image size against plain `go build`, time from QEMU start to the first
// line main() prints (median of N) against QEMU's own floor (a guest that
// exits at once), and the smallest -m at which hello and the GC-churn
// program complete. Run from the repository root:
//
//	go run ./bench/boot [-n 10] [-accel tcg]
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/stardust-go/stardust/toolchain"
	"github.com/stardust-go/stardust/vmm"
)

var (
	n     = flag.Int("n", 10, "boots per timing")
	accel = flag.String("accel", "tcg", "accelerator")
)

func main() {
	flag.Parse()
	tmp, err := os.MkdirTemp("", "stardust-bench-")
	check(err)
	defer os.RemoveAll(tmp)

	hello := filepath.Join(tmp, "hello.img")
	check(toolchain.Build(toolchain.Options{Pkg: "./examples/hello", Output: hello}))
	plain := filepath.Join(tmp, "hello.plain")
	cmd := exec.Command("go", "build", "-o", plain, "./examples/hello")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	check(cmd.Run())
	churn := filepath.Join(tmp, "gcchurn.img")
	check(toolchain.Build(toolchain.Options{Pkg: "./tests/boot/testdata/gcchurn", Output: churn}))
	floor := filepath.Join(tmp, "floor.elf")
	check(os.WriteFile(floor, floorELF(), 0o644))

	fmt.Printf("| measure | value | goal |\n|---|---|---|\n")
	hs, ps := size(hello), size(plain)
	fmt.Printf("| image size, examples/hello | %.2f MiB (plain go build %.2f MiB, +%.0f KiB) | at most +1 MiB |\n",
		mib(hs), mib(ps), float64(hs-ps)/1024)

	for _, machine := range []string{"microvm", "q35"} {
		first := median(func() time.Duration { return firstLine(hello, machine) })
		fl := median(func() time.Duration { return exitTime(floor, machine) })
		fmt.Printf("| QEMU start to hello's first line, %s, %s (median of %d) | %.0f ms (QEMU floor %.0f ms, %.2fx) | within 2x of the floor |\n",
			machine, *accel, *n, ms(first), ms(fl), float64(first)/float64(fl))
	}
	fmt.Printf("| smallest -m for hello | %d MiB | 32 MiB or less |\n", smallestMemory(hello, "Hello from Stardust!"))
	fmt.Printf("| smallest -m for 2 GiB of GC churn | %d MiB | 32 MiB or less |\n", smallestMemory(churn, "allocated 2048 MiB"))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func size(p string) int64 {
	st, err := os.Stat(p)
	check(err)
	return st.Size()
}

func mib(b int64) float64        { return float64(b) / (1 << 20) }
func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func median(f func() time.Duration) time.Duration {
	var ds []time.Duration
	for i := 0; i < *n; i++ {
		ds = append(ds, f())
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

func qemuCmd(img, machine, mem string, extra ...string) *exec.Cmd {
	m := machine
	if m == "microvm" {
		m = "microvm,rtc=on,pit=on,isa-serial=on"
	}
	cpu := "max"
	if *accel == "kvm" {
		cpu = "host"
	}
	args := []string{"-machine", m, "-accel", *accel, "-cpu", cpu, "-m", mem,
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-serial", "stdio",
		"-kernel", img, "-device", "isa-debug-exit,iobase=0xf4,iosize=4"}
	return exec.Command("qemu-system-x86_64", append(args, extra...)...)
}

// firstLine starts QEMU and returns when the program's first line arrives.
func firstLine(img, machine string) time.Duration {
	cmd := qemuCmd(img, machine, "128M", "-append", "-- hello")
	out, err := cmd.StdoutPipe()
	check(err)
	start := time.Now()
	check(cmd.Start())
	line, _ := bufio.NewReader(out).ReadString('\n')
	d := time.Since(start)
	cmd.Wait()
	if !strings.Contains(line, "Hello") {
		check(fmt.Errorf("unexpected first line %q", line))
	}
	return d
}

// exitTime is how long QEMU takes to start and run a guest that exits at once.
func exitTime(img, machine string) time.Duration {
	start := time.Now()
	cmd := qemuCmd(img, machine, "128M")
	cmd.Run()
	return time.Since(start)
}

// smallestMemory finds the least -m (in MiB) at which img prints want.
func smallestMemory(img, want string) int {
	ok := func(mb int) bool {
		var out bytes.Buffer
		res, err := vmm.Run(context.Background(), vmm.Config{Image: img, Memory: fmt.Sprintf("%dM", mb), Accel: *accel, Stdout: &out, Stderr: &bytes.Buffer{}, Timeout: 2 * time.Minute})
		return err == nil && res.Outcome == vmm.Exited && res.Status == 0 && strings.Contains(out.String(), want)
	}
	lo, hi := 4, 256 // lo fails (assumed), hi works
	if !ok(hi) {
		return -1
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if ok(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// floorELF is the smallest PVH guest: a 32-bit ELF whose entry writes 0 to
// the isa-debug-exit port. It measures what QEMU itself costs.
func floorELF() []byte {
	code := []byte{0x66, 0xBA, 0xF4, 0x00, 0x31, 0xC0, 0xEF, 0xF4, 0xEB, 0xFD} // mov dx,0xf4; xor eax,eax; out dx,eax; hlt; jmp $-1
	const base = 0x100000
	var b bytes.Buffer
	le := binary.LittleEndian
	hdr := make([]byte, 52)
	copy(hdr, "\x7fELF\x01\x01\x01")
	le.PutUint16(hdr[16:], 2) // ET_EXEC
	le.PutUint16(hdr[18:], 3) // EM_386
	le.PutUint32(hdr[20:], 1)
	le.PutUint32(hdr[24:], base+0x100)
	le.PutUint32(hdr[28:], 52) // phoff
	le.PutUint16(hdr[40:], 52)
	le.PutUint16(hdr[42:], 32)
	le.PutUint16(hdr[44:], 2)
	b.Write(hdr)
	ph := func(typ, off, vaddr, size, align uint32) {
		p := make([]byte, 32)
		le.PutUint32(p[0:], typ)
		le.PutUint32(p[4:], off)
		le.PutUint32(p[8:], vaddr)
		le.PutUint32(p[12:], vaddr)
		le.PutUint32(p[16:], size)
		le.PutUint32(p[20:], size)
		le.PutUint32(p[24:], 5)
		le.PutUint32(p[28:], align)
		b.Write(p)
	}
	ph(1, 0, base, 0x100+uint32(len(code)), 0x1000)
	ph(4, 0xE0, 0, 20, 4)
	for b.Len() < 0xE0 {
		b.WriteByte(0)
	}
	note := make([]byte, 20)
	le.PutUint32(note[0:], 4)
	le.PutUint32(note[4:], 4)
	le.PutUint32(note[8:], 18)
	copy(note[12:], "Xen\x00")
	le.PutUint32(note[16:], base+0x100)
	b.Write(note)
	for b.Len() < 0x100 {
		b.WriteByte(0)
	}
	b.Write(code)
	return b.Bytes()
}
