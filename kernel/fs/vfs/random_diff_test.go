package vfs_test

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stardust-go/stardust/kernel/fs/tmpfs"
	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

// TestRandomAgainstLinux generates random call sequences over a tiny name
// space (so calls collide: existing names, links to directories, loops,
// "..", trailing slashes) and compares every errno with the host kernel.
// The seed is fixed so failures reproduce.
func TestRandomAgainstLinux(t *testing.T) {
	for seed := int64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { randomAgainstLinux(t, seed) })
	}
}

func randomAgainstLinux(t *testing.T, seed int64) {
	steps := 3000
	if testing.Short() {
		steps = 500
	}
	rng := rand.New(rand.NewSource(seed))
	names := []string{"a", "b", "c", ".", "..", "l"}
	randPath := func() string {
		n := 1 + rng.Intn(3)
		var parts []string
		for range n {
			parts = append(parts, names[rng.Intn(len(names))])
		}
		p := strings.Join(parts, "/")
		if rng.Intn(8) == 0 {
			p += "/"
		}
		return p
	}
	openFlags := []int{
		syscall.O_RDONLY, syscall.O_WRONLY, syscall.O_RDWR,
		syscall.O_CREAT | syscall.O_WRONLY, syscall.O_CREAT | syscall.O_EXCL | syscall.O_RDWR,
		syscall.O_RDONLY | syscall.O_DIRECTORY, syscall.O_RDONLY | syscall.O_NOFOLLOW,
		syscall.O_WRONLY | syscall.O_TRUNC, syscall.O_CREAT | syscall.O_NOFOLLOW | syscall.O_WRONLY,
	}
	gen := func() step {
		p, q := randPath(), randPath()
		switch rng.Intn(11) {
		case 9:
			return step{fmt.Sprintf("readlink(%q)", p), func(b backend) error {
				l, err := b.readlink(p)
				if err != nil {
					return err
				}
				return fmt.Errorf("target %q", l)
			}}
		case 10:
			return truncate(p, int64(rng.Intn(3)-1))
		case 0, 1:
			return open(p, openFlags[rng.Intn(len(openFlags))])
		case 2:
			return mkdir(p)
		case 3:
			return unlink(p)
		case 4:
			return rmdir(p)
		case 5:
			return rename(p, q, []uint{0, 0, vfs.RENAME_NOREPLACE, vfs.RENAME_EXCHANGE}[rng.Intn(4)])
		case 6:
			return link(p, q, []int{0, vfs.AT_SYMLINK_FOLLOW}[rng.Intn(2)])
		case 7:
			return symlink(q, p)
		default:
			return statType(p, []int{0, vfs.AT_SYMLINK_NOFOLLOW}[rng.Intn(2)])
		}
	}
	// Both sandboxes sit deep below their roots, so ".." (which Linux
	// stops only at the real root) climbs through identical directories.
	deep := strings.Repeat("up/", 12) + "sandbox"
	hostDir := filepath.Join(t.TempDir(), deep)
	if err := os.MkdirAll(hostDir, 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Open(hostDir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	host := hostBackend{fd}
	v := vfs.New(tmpfs.New(tmpfs.Options{}), vfs.Options{})
	p := ""
	for _, el := range strings.Split(deep, "/") {
		p += "/" + el
		if err := v.MkdirAt(nil, p, 0o755); err != nil {
			t.Fatal(p, err)
		}
	}
	if err := v.Chdir(nil, "/"+deep); err != nil {
		t.Fatal(err)
	}
	mine := vfsBackend{v}
	var history []string
	for i := range steps {
		s := gen()
		history = append(history, s.name)
		want, got := s.do(host), s.do(mine)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			start := max(0, len(history)-15)
			t.Fatalf("step %d %s: stardust %v, linux %v\nrecent steps:\n  %s", i, s.name, got, want, strings.Join(history[start:], "\n  "))
		}
	}
}

// statType reports the file type as its result, so both sides must agree
// on it (sizes of directories differ between file systems).
func statType(p string, flags int) step {
	return step{fmt.Sprintf("stat(%q, %#x)", p, flags), func(b backend) error {
		st, err := b.stat(p, flags)
		if err != nil {
			return err
		}
		return fmt.Errorf("type %#o", st.Mode&syscall.S_IFMT)
	}}
}
