// Package vfs is Stardust's virtual file system: the mount table, path
// resolution (cwd, "..", symbolic links, mount crossing) and the file
// operations behind open, mkdir, unlink, rename, stat and friends, as the
// Linux system calls define them. File systems plug in by implementing
// Filesystem and the Node interfaces below; the VFS turns their nodes into
// fdesc.Description values for the system-call layer.
//
// Execution context: service context. Everything here runs in ordinary
// goroutines, may allocate and block, and is unit-tested on the host with
// plain `go test`. Errors are syscall.Errno values in Linux amd64 numbering.
//
// The guest runs as root, so permission bits are recorded and reported but
// not enforced (root bypasses them on Linux too, except for execute bits,
// which AccessAt honours). Access times are not updated (as with noatime).
// See docs/vfs.md for the design.
package vfs

import (
	"syscall"

	"github.com/stardust-go/stardust/kernel/fdesc"
)

// Filesystem is a mountable file system instance.
type Filesystem interface {
	// Root returns the root directory.
	Root() DirNode
	// Statfs fills st as statfs(2) does (the VFS adds ST_RDONLY for
	// read-only mounts).
	Statfs(st *syscall.Statfs_t) error
}

// Node is a file, directory, symlink or device of some file system. The
// Go type of a node tells the VFS its kind: directories implement DirNode,
// symbolic links SymlinkNode, regular files FileNode, and device-like
// files (character devices, FIFOs, synthetic files with their own
// behaviour) DeviceNode.
type Node interface {
	// Attr returns the node's metadata. Ino must be unique within the
	// file system and stable for the node's life (mounts are keyed by it).
	Attr() (Attr, error)
}

// DirNode is a directory.
type DirNode interface {
	Node
	// Lookup returns the child called name (never "." or ".."), or ENOENT.
	Lookup(name string) (Node, error)
	// ReadDir lists the children, without "." and "..".
	ReadDir() ([]DirEntry, error)
}

// WritableDir is a directory that can change. A directory that does not
// implement it belongs to a read-only file system: changes are EROFS.
// Names are single path elements, never "." or "..". Modes carry only
// permission bits; the umask has already been applied.
type WritableDir interface {
	DirNode
	// Create makes an empty regular file; EEXIST if name exists.
	Create(name string, mode uint32) (Node, error)
	// Mkdir makes a directory; EEXIST if name exists.
	Mkdir(name string, mode uint32) error
	// Symlink makes a symbolic link to target; EEXIST if name exists.
	Symlink(name, target string) error
	// Link adds a hard link to target (a non-directory of the same file
	// system); EEXIST if name exists.
	Link(name string, target Node) error
	// Unlink removes a non-directory: EISDIR for a directory.
	Unlink(name string) error
	// Rmdir removes an empty directory: ENOTDIR, ENOTEMPTY.
	Rmdir(name string) error
	// Rename moves oldName to newDir/newName (newDir belongs to the same
	// file system) with renameat2 semantics: an existing target is
	// replaced if compatible (EISDIR, ENOTDIR, ENOTEMPTY otherwise),
	// RENAME_NOREPLACE makes an existing target EEXIST, RENAME_EXCHANGE
	// swaps the two. Renaming a file onto a hard link of itself does
	// nothing. The VFS has already rejected moving a directory into its
	// own subtree and mount points.
	Rename(oldName string, newDir DirNode, newName string, flags uint) error
}

// SymlinkNode is a symbolic link.
type SymlinkNode interface {
	Node
	Readlink() (string, error)
}

// FileNode is a regular file. The VFS keeps the file offset and the
// status flags; the handle does positioned I/O.
type FileNode interface {
	Node
	// Open returns a handle for I/O. flags are the open flags; the VFS
	// has already checked access modes against the mount and the type.
	Open(flags int) (Handle, error)
}

// Handle is an open regular file. ReadAt returns a short count (possibly
// 0) at end of file, never io.EOF.
type Handle interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	Close() error
}

// Appender is an optional Handle method for O_APPEND writes: it appends p
// at the current end of file atomically with respect to other writers and
// returns the new end. Without it the VFS reads the size, then writes.
type Appender interface {
	Append(p []byte) (n int, end int64, err error)
}

// HoleSeeker is an optional Handle method for lseek's SEEK_DATA (data
// true) and SEEK_HOLE: the first offset at or after off that starts data
// or a hole (the end of file counts as a hole); ENXIO if off is at or past
// the end. Without it the whole file is data.
type HoleSeeker interface {
	SeekHole(off int64, data bool) (int64, error)
}

// HandleSyncer is an optional Handle method for fsync/fdatasync.
type HandleSyncer interface {
	Sync(dataOnly bool) error
}

// FSSyncer is an optional Filesystem method that makes every completed
// change durable (a journal commit). fsync of a directory calls it, so a
// program that fsyncs the directory after a rename or create, as careful
// programs do, knows the name is on disk.
type FSSyncer interface {
	Sync() error
}

// DeviceNode is a node that makes its own open file descriptions:
// /dev/null, FIFOs, synthetic files.
type DeviceNode interface {
	Node
	OpenDescription(flags int) (fdesc.Description, error)
}

// SetAttrer is implemented by nodes whose metadata can change (chmod,
// utimensat, truncate). Without it those calls fail with EPERM.
type SetAttrer interface {
	SetAttr(a SetAttr) error
}

// Attr is a node's metadata, as stat(2) reports it.
type Attr struct {
	Ino     uint64
	Mode    uint32 // Linux st_mode: S_IFMT type bits and permissions
	Nlink   uint32
	Uid     uint32
	Gid     uint32
	Rdev    uint64
	Size    int64
	Blocks  int64 // in 512-byte units
	Blksize int32
	Atime   syscall.Timespec
	Mtime   syscall.Timespec
	Ctime   syscall.Timespec
}

// SetAttr describes a metadata change; Valid says which fields apply.
type SetAttr struct {
	Valid uint32
	Mode  uint32 // permission bits (07777)
	Size  int64
	Atime syscall.Timespec // already resolved: never UTIME_NOW/UTIME_OMIT
	Mtime syscall.Timespec
	Uid   uint32
	Gid   uint32
}

// SetAttr.Valid bits.
const (
	SetMode uint32 = 1 << iota
	SetSize
	SetAtime
	SetMtime
	SetUid
	SetGid
)

// DirEntry is one name in a directory listing.
type DirEntry struct {
	Name string
	Ino  uint64
	Type uint8 // DT_REG, DT_DIR, ... (see DirentType)
}

// Linux d_type values (linux_dirent64.d_type).
const (
	DT_UNKNOWN = 0
	DT_FIFO    = 1
	DT_CHR     = 2
	DT_DIR     = 4
	DT_BLK     = 6
	DT_REG     = 8
	DT_LNK     = 10
	DT_SOCK    = 12
)

// DirentType converts st_mode type bits to a d_type value.
func DirentType(mode uint32) uint8 {
	return uint8(mode & syscall.S_IFMT >> 12) // Linux defines DT_* as S_IFMT>>12
}

// Linux renameat2 flags and limits.
const (
	RENAME_NOREPLACE = 1 << 0
	RENAME_EXCHANGE  = 1 << 1
	RENAME_WHITEOUT  = 1 << 2

	// UTIME_NOW and UTIME_OMIT are utimensat's special tv_nsec values.
	UTIME_NOW  = 1<<30 - 1
	UTIME_OMIT = 1<<30 - 2

	// maxSymlinks is Linux's MAXSYMLINKS: ELOOP after 40 links in one
	// resolution.
	maxSymlinks = 40
	pathMax     = 4096
	nameMax     = 255

	// O_TMPFILE's private bit (the flag is this | O_DIRECTORY).
	oTmpfileBit = 0x400000
)

// FillStat fills st from a node's attributes and the device number of the
// mount it lives on, as Linux's fstat does.
func FillStat(st *syscall.Stat_t, a Attr, dev uint64) {
	*st = syscall.Stat_t{
		Dev:     dev,
		Ino:     a.Ino,
		Nlink:   uint64(a.Nlink),
		Mode:    a.Mode,
		Uid:     a.Uid,
		Gid:     a.Gid,
		Rdev:    a.Rdev,
		Size:    a.Size,
		Blksize: int64(a.Blksize),
		Blocks:  a.Blocks,
		Atim:    a.Atime,
		Mtim:    a.Mtime,
		Ctim:    a.Ctime,
	}
	if st.Blksize == 0 {
		st.Blksize = 4096
	}
}

// Mkdev encodes a device number as Linux's new_encode_dev does.
func Mkdev(major, minor uint32) uint64 {
	return uint64(minor&0xff) | uint64(major&0xfff)<<8 | uint64(minor&^0xff)<<12 | uint64(major&^0xfff)<<32
}

func isDir(n Node) bool     { _, ok := n.(DirNode); return ok }
func isSymlink(n Node) bool { _, ok := n.(SymlinkNode); return ok }

// Snapshot is a read-only Handle over bytes taken when the file was
// opened: generated files (/proc, /etc/resolv.conf) serve one consistent
// version to a sequence of reads.
type Snapshot []byte

func (s Snapshot) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(s)) {
		return 0, nil
	}
	return copy(p, s[off:]), nil
}

func (s Snapshot) WriteAt([]byte, int64) (int, error) { return 0, syscall.EBADF }
func (s Snapshot) Close() error                       { return nil }
