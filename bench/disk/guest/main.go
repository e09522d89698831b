// Command guest is the disk benchmark's workload; it runs inside a Stardust
// VM (on the ext4 volume) or natively on the host, and prints one
// "name value unit" line per measure.
//
//	guest volume DIR   sequential and random 4 KiB I/O, fsync latency
//	guest readall DIR  read every file under DIR (the packed root filesystem)
package main

import (
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"time"
)

const (
	fileSize = 32 << 20
	chunk    = 1 << 20
	ops4k    = 2000
	syncs    = 200
)

func main() {
	switch os.Args[1] {
	case "volume":
		volume(os.Args[2])
	case "readall":
		readall(os.Args[2])
	}
}

func volume(dir string) {
	path := filepath.Join(dir, "bench.dat")
	os.Remove(path)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	must(err)
	buf := make([]byte, chunk)
	rand.Read(buf)

	t := time.Now()
	for off := 0; off < fileSize; off += chunk {
		_, err := f.WriteAt(buf, int64(off))
		must(err)
	}
	must(f.Sync())
	report("seq-write", mbps(fileSize, time.Since(t)), "MiB/s")

	t = time.Now()
	for off := 0; off < fileSize; off += chunk {
		_, err := f.ReadAt(buf, int64(off))
		must(err)
	}
	report("seq-read", mbps(fileSize, time.Since(t)), "MiB/s")

	rng := rand.New(rand.NewSource(1))
	page := buf[:4096]
	t = time.Now()
	for i := 0; i < ops4k; i++ {
		_, err := f.WriteAt(page, int64(rng.Intn(fileSize/4096))*4096)
		must(err)
	}
	must(f.Sync())
	report("rand-4k-write", float64(ops4k)/time.Since(t).Seconds(), "IOPS")

	t = time.Now()
	for i := 0; i < ops4k; i++ {
		_, err := f.ReadAt(page, int64(rng.Intn(fileSize/4096))*4096)
		must(err)
	}
	report("rand-4k-read", float64(ops4k)/time.Since(t).Seconds(), "IOPS")

	lat := make([]time.Duration, syncs)
	for i := range lat {
		t := time.Now()
		_, err := f.WriteAt(page, int64(fileSize+i*4096))
		must(err)
		must(f.Sync())
		lat[i] = time.Since(t)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	report("fsync-p50", ms(lat[len(lat)/2]), "ms")
	report("fsync-p99", ms(lat[len(lat)*99/100]), "ms")
	f.Close()
	os.Remove(path)
}

func readall(dir string) {
	t := time.Now()
	files, bytes := 0, 0
	must(filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		files++
		bytes += len(b)
		return err
	}))
	el := time.Since(t)
	report("readall-files", float64(files), "files")
	report("readall-bytes", float64(bytes)/(1<<20), "MiB")
	report("readall-time", ms(el), "ms")
}

func mbps(n int, d time.Duration) float64 { return float64(n) / (1 << 20) / d.Seconds() }
func ms(d time.Duration) float64          { return float64(d.Microseconds()) / 1000 }

func report(name string, v float64, unit string) { fmt.Printf("%s %.2f %s\n", name, v, unit) }

func must(err error) {
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}
