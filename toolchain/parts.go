package toolchain

import (
	"debug/elf"
	"debug/gosym"
	"fmt"
	"strings"

	stardust "github.com/stardust-go/stardust"
)

// Part is an optional part of an image: a kernel package that `stardust
// build` links only when asked (Options.With, `-with NAME`) or when the
// program needs it. Every image would otherwise carry ext4, 9P and their
// drivers, most of a megabyte with their tables and debug information.
type Part struct {
	Name    string // as -with spells it
	Package string // the kernel package that is the part
	Summary string // for usage messages
}

// Parts are the optional parts, in the order usage messages list them.
var Parts = []Part{
	{"disks", stardust.DisksPackage, "ext4 volumes on virtio-blk (stardust run -disk)"},
	{"entropy", stardust.DevicesPackage, "the host's randomness from virtio-rng (linked anyway with disks, net and shares)"},
	{"net", stardust.NetworkPackage, "the network stack (linked anyway into programs that use package net)"},
	{"shares", stardust.SharesPackage, "host directories over virtio-9p (stardust run -v)"},
}

// PartNames lists the parts' names: "disks, net, shares".
func PartNames() string {
	var names []string
	for _, p := range Parts {
		names = append(names, p.Name)
	}
	return strings.Join(names, ", ")
}

// ParseParts reads -with values, each one name or a comma-separated list,
// and returns the names, each once, in the order of Parts. An unknown
// name is an error that lists the valid ones.
func ParseParts(values []string) ([]string, error) {
	want := map[string]bool{}
	for _, v := range values {
		for _, name := range strings.Split(v, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			if part(name) == nil {
				return nil, fmt.Errorf("unknown part %q: the parts are %s", name, PartNames())
			}
			want[name] = true
		}
	}
	var out []string
	for _, p := range Parts {
		if want[p.Name] {
			out = append(out, p.Name)
		}
	}
	return out, nil
}

func part(name string) *Part {
	for i := range Parts {
		if Parts[i].Name == name {
			return &Parts[i]
		}
	}
	return nil
}

// ImageParts returns the names of the parts the image file links, in the
// order of Parts. It reads the function names in the image's Go symbol
// table (.gopclntab: the Go runtime needs it, so even a stripped image
// has it): a part is linked when any function of its package is, and a
// linked part always has one, the init that registers it.
func ImageParts(image string) ([]string, error) {
	f, err := elf.Open(image)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pcln, text := f.Section(".gopclntab"), f.Section(".text")
	if pcln == nil || text == nil {
		return nil, fmt.Errorf("%s has no Go symbol table", image)
	}
	data, err := pcln.Data()
	if err != nil {
		return nil, err
	}
	table, err := gosym.NewTable(nil, gosym.NewLineTable(data, text.Addr))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the Go symbol table: %v", image, err)
	}
	linked := map[string]bool{}
	for _, fn := range table.Funcs {
		for _, p := range Parts {
			if strings.HasPrefix(fn.Name, p.Package+".") {
				linked[p.Name] = true
			}
		}
	}
	var out []string
	for _, p := range Parts {
		if linked[p.Name] {
			out = append(out, p.Name)
		}
	}
	return out, nil
}
