// Reads files packed with -files, lists a directory, and writes, renames
// and reads back files in /tmp.
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
)

func main() {
	b, err := os.ReadFile("/data/hello.txt")
	fmt.Printf("hello.txt: %q %v\n", b, err)
	ents, err := os.ReadDir("/data")
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	fmt.Printf("ls /data: %s %v\n", strings.Join(names, ","), err)
	l, err := os.Readlink("/data/link")
	fmt.Printf("link -> %s %v\n", l, err)
	err = os.WriteFile("/data/new", []byte("x"), 0o644)
	fmt.Printf("write to image: %v\n", err)
	hosts, err := os.ReadFile("/etc/hosts")
	fmt.Printf("/etc/hosts has localhost: %v %v\n", strings.Contains(string(hosts), "localhost"), err)

	must(os.MkdirAll("/tmp/a/b", 0o755))
	must(os.WriteFile("/tmp/a/b/f", []byte("first"), 0o600))
	must(os.Rename("/tmp/a/b/f", "/tmp/a/g"))
	g, err := os.ReadFile("/tmp/a/g")
	fmt.Printf("tmp: %q %v\n", g, err)
	st, err := os.Stat("/tmp/a/g")
	fmt.Printf("stat: size=%d mode=%v %v\n", st.Size(), st.Mode(), err)
	_, err = os.Stat("/tmp/a/b/f")
	fmt.Printf("old name: %v\n", os.IsNotExist(err))
	// umask is a raw system call in Go: it must answer at once, and the
	// modes of files and directories created afterwards must honour it.
	old := syscall.Umask(0o027)
	must(os.WriteFile("/tmp/a/masked", nil, 0o666))
	must(os.Mkdir("/tmp/a/maskdir", 0o777))
	fst, _ := os.Stat("/tmp/a/masked")
	dst, _ := os.Stat("/tmp/a/maskdir")
	fmt.Printf("umask: old=%o file=%v dir=%v\n", old, fst.Mode(), dst.Mode())
	syscall.Umask(old)
	wd, _ := os.Getwd()
	must(os.Chdir("/tmp/a"))
	wd2, _ := os.Getwd()
	fmt.Printf("cwd: %s -> %s\n", wd, wd2)
	somax, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	fmt.Printf("somaxconn: %q %v\n", strings.TrimSpace(string(somax)), err)
}

func must(err error) {
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}
