// "write": creates, writes, fsyncs and renames files on the ext4 volume at
// /data. "read": prints what a previous boot left there. "crash": appends
// and fsyncs numbered records until the VM is killed; "records": counts
// the records a crashed boot left and checks their order.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"syscall"
)

func main() {
	switch os.Args[1] {
	case "write":
		must(os.MkdirAll("/data/dir", 0o755))
		f, err := os.Create("/data/dir/tmp.txt")
		must(err)
		_, err = f.WriteString("persisted across reboots")
		must(err)
		must(f.Sync())
		must(f.Close())
		must(os.Rename("/data/dir/tmp.txt", "/data/dir/final.txt"))
		d, err := os.Open("/data/dir")
		must(err)
		must(d.Sync())
		d.Close()
		fmt.Println("written")
	case "read":
		b, err := os.ReadFile("/data/dir/final.txt")
		fmt.Printf("read: %q %v\n", b, err)
		_, err = os.Stat("/data/dir/tmp.txt")
		fmt.Printf("old name gone: %v\n", os.IsNotExist(err))
	case "crash":
		// Check what earlier (killed) boots left, then go on from there.
		n, ok := countRecords()
		fmt.Printf("existing %d in order: %v\n", n, ok)
		must(os.MkdirAll("/data/files", 0o755))
		f, err := os.OpenFile("/data/log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		must(err)
		for i := n; ; i++ {
			_, err := fmt.Fprintf(f, "record %d\n", i)
			must(err)
			// Metadata churn between the fsyncs: create, rename, unlink.
			tmp := fmt.Sprintf("/data/files/tmp%d", i)
			must(os.WriteFile(tmp, []byte(strings.Repeat("x", i%5000)), 0o644))
			must(os.Rename(tmp, fmt.Sprintf("/data/files/f%d", i)))
			os.Remove(fmt.Sprintf("/data/files/f%d", i-3))
			must(f.Sync())
			fmt.Printf("synced %d\n", i)
		}
	case "sync":
		// No fsync: sync(2) alone must make it durable.
		must(os.WriteFile("/data/synced.txt", []byte("made durable by sync(2)"), 0o644))
		syscall.Sync()
		fmt.Println("synced")
		select {} // wait to be killed
	case "readsync":
		b, err := os.ReadFile("/data/synced.txt")
		fmt.Printf("after kill: %q %v\n", b, err)
	case "records":
		n, ok := countRecords()
		fmt.Printf("records: %d in order: %v\n", n, ok)
	}
}

// countRecords counts the log's records and checks they are numbered in
// order with no torn line.
func countRecords() (int, bool) {
	f, err := os.Open("/data/log")
	if os.IsNotExist(err) {
		return 0, true
	}
	must(err)
	defer f.Close()
	n, ok := 0, true
	for sc := bufio.NewScanner(f); sc.Scan(); n++ {
		ok = ok && sc.Text() == fmt.Sprintf("record %d", n)
	}
	return n, ok
}

func must(err error) {
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}
