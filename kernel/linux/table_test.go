package linux

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stardust-go/stardust/kernel/bridge"
)

var update = flag.Bool("update", false, "rewrite docs/syscalls.md from the table")

// renderDoc produces docs/syscalls.md from the system-call table.
func renderDoc() string {
	var b strings.Builder
	count := map[Support]int{}
	for nr := range names {
		if names[nr] == "" {
			continue
		}
		if nr < len(table) && table[nr].fn != nil {
			count[table[nr].support]++
		} else {
			count[NotYet]++
		}
	}
	fmt.Fprintf(&b, "# System calls\n\nGenerated from `kernel/linux/table.go` by `go test ./kernel/linux -update`; do not edit.\n\n")
	fmt.Fprintf(&b, "Stardust answers the x86-64 Linux system calls below; every other one returns ENOSYS and is logged once, by name, on the console.\n\n")
	fmt.Fprintf(&b, "%d supported, %d partial, %d not yet.\n\n", count[Supported], count[Partial], count[NotYet])
	fmt.Fprintf(&b, "| nr | name | support | note |\n|---:|---|---|---|\n")
	for nr := range table {
		e := table[nr]
		if e.fn == nil {
			continue
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s |\n", nr, names[nr], e.support, e.note)
	}
	fmt.Fprintf(&b, "\n## Not yet (ENOSYS)\n\n")
	var not []string
	for nr := range names {
		if names[nr] != "" && (nr >= len(table) || table[nr].fn == nil) {
			not = append(not, fmt.Sprintf("%s (%d)", names[nr], nr))
		}
	}
	b.WriteString(strings.Join(not, ", "))
	b.WriteString("\n")
	return b.String()
}

func TestSyscallDocIsCurrent(t *testing.T) {
	const path = "../../docs/syscalls.md"
	want := renderDoc()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != want {
		t.Fatalf("docs/syscalls.md is out of date with table.go: run `go test ./kernel/linux -update`")
	}
}

func TestTableEntriesHaveNamesAndNotes(t *testing.T) {
	for nr, e := range table {
		if e.fn == nil {
			continue
		}
		if nr >= len(names) || names[nr] == "" {
			t.Errorf("table entry %d has no name", nr)
		}
		if e.support == Partial && e.note == "" {
			t.Errorf("%s is partial but says nothing about what is missing", names[nr])
		}
	}
}

// Every Stardust call has a name for boot traces.
func TestStardustNames(t *testing.T) {
	if len(stardustNames) != bridge.SysLast-bridge.SysFirst+1 {
		t.Fatalf("%d Stardust call names for %d calls", len(stardustNames), bridge.SysLast-bridge.SysFirst+1)
	}
	if got := syscallName(bridge.SysDevices); got != "stardust_devices" {
		t.Errorf("syscallName(SysDevices) = %q", got)
	}
	if got := syscallName(1); got != "write" {
		t.Errorf("syscallName(1) = %q", got)
	}
}
