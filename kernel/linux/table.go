package linux

import (
	"syscall"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
	"github.com/stardust-go/stardust/kernel/boottrace"
	"github.com/stardust-go/stardust/kernel/bridge"
	"github.com/stardust-go/stardust/kernel/klog"
	"github.com/stardust-go/stardust/kernel/sched"
)

// Support says how completely Stardust implements a system call.
type Support uint8

const (
	NotYet    Support = iota // returns ENOSYS (logged once)
	Partial                  // implemented for what Go programs do; the note says what is missing
	Supported                // behaves as on Linux
)

func (s Support) String() string {
	switch s {
	case Supported:
		return "supported"
	case Partial:
		return "partial"
	}
	return "not yet"
}

type handler func(f *amd64.Frame) uintptr

type entry struct {
	fn      handler
	support Support
	note    string
}

// table is the system-call table, indexed by x86-64 system-call number.
// It is data: docs/syscalls.md is generated from it (see table_test.go).
// Calls not listed return ENOSYS.
var table = [...]entry{
	syscall.SYS_READ:              {sysRead, Partial, "console (EOF), eventfd; files and sockets come with the VFS and network stack"},
	syscall.SYS_WRITE:             {sysWrite, Partial, "console (serial port), eventfd"},
	syscall.SYS_OPEN:              {sysOpen, Supported, "through the VFS (see docs/vfs.md)"},
	syscall.SYS_CLOSE:             {sysClose, Supported, ""},
	syscall.SYS_FSTAT:             {sysFstat, Partial, "console is a character device; other descriptors anonymous"},
	syscall.SYS_LSEEK:             {sysLseek, Supported, "files; ESPIPE for the console, pipes and sockets"},
	syscall.SYS_MMAP:              {sysMmap, Partial, "anonymous memory (demand-zero); regular files, MAP_PRIVATE and MAP_SHARED (see docs/vfs.md: coherent with read/write, written back on msync/munmap)"},
	syscall.SYS_MPROTECT:          {sysMprotect, Supported, ""},
	syscall.SYS_MUNMAP:            {sysMunmap, Supported, "shared file mappings are written back first"},
	syscall.SYS_MSYNC:             {sysMsync, Supported, "MS_SYNC also makes the data durable (fdatasync)"},
	syscall.SYS_BRK:               {sysBrk, Partial, "no heap segment: always reports break 0 (Go does not use brk)"},
	syscall.SYS_RT_SIGACTION:      {sysRtSigaction, Supported, "SA_RESTORER required, as on x86-64 without a vDSO"},
	syscall.SYS_RT_SIGPROCMASK:    {sysRtSigprocmask, Supported, ""},
	syscall.SYS_RT_SIGRETURN:      {sysRtSigreturn, Supported, "restores registers, the XSAVE (x87, SSE, AVX) or FXSAVE image, and the mask"},
	syscall.SYS_IOCTL:             {sysIoctl, Partial, "ENOTTY for everything"},
	syscall.SYS_PREAD64:           {sysPread, Supported, ""},
	syscall.SYS_READV:             {sysReadv, Supported, ""},
	syscall.SYS_WRITEV:            {sysWritev, Supported, ""},
	syscall.SYS_SCHED_YIELD:       {sysSchedYield, Supported, ""},
	syscall.SYS_MINCORE:           {sysMincore, Supported, ""},
	syscall.SYS_MADVISE:           {sysMadvise, Partial, "DONTNEED and FREE release pages; other advice is accepted and ignored"},
	syscall.SYS_DUP:               {sysDup, Supported, ""},
	syscall.SYS_DUP2:              {sysDup2, Supported, ""},
	syscall.SYS_NANOSLEEP:         {sysNanosleep, Supported, ""},
	syscall.SYS_GETPID:            {sysGetpid, Supported, "always 1"},
	syscall.SYS_CLONE:             {sysClone, Partial, "threads only (CLONE_VM|CLONE_THREAD...); new processes: ENOSYS"},
	syscall.SYS_EXIT:              {sysExit, Supported, ""},
	syscall.SYS_KILL:              {sysKill, Partial, "the one process only"},
	syscall.SYS_UNAME:             {sysUname, Supported, "reports Linux 6.1.0-stardust"},
	syscall.SYS_FCNTL:             {sysFcntl, Partial, "F_GETFD/SETFD/GETFL/SETFL(O_NONBLOCK)/DUPFD(_CLOEXEC); F_SETLK(W) granted and F_GETLK unlocked, as for one process on Linux; no OFD locks"},
	syscall.SYS_GETCWD:            {sysGetcwd, Supported, ""},
	syscall.SYS_UMASK:             {sysUmask, Supported, "kept by the kernel, applied to the modes of open, openat, mkdir and mkdirat"},
	syscall.SYS_GETTIMEOFDAY:      {sysGettimeofday, Supported, ""},
	syscall.SYS_GETRLIMIT:         {sysGetrlimit, Supported, ""},
	syscall.SYS_SYSINFO:           {sysSysinfo, Partial, "uptime and memory only"},
	syscall.SYS_GETUID:            {sysGetuid, Supported, "root"},
	syscall.SYS_GETGID:            {sysGetuid, Supported, "root"},
	syscall.SYS_GETEUID:           {sysGetuid, Supported, "root"},
	syscall.SYS_GETEGID:           {sysGetuid, Supported, "root"},
	syscall.SYS_GETPPID:           {sysGetppid, Supported, "0: no parent"},
	syscall.SYS_SIGALTSTACK:       {sysSigaltstack, Supported, ""},
	syscall.SYS_PRCTL:             {sysPrctl, Partial, "PR_SET_NAME/PR_GET_NAME; others EINVAL"},
	syscall.SYS_ARCH_PRCTL:        {sysArchPrctl, Partial, "FS only; GS is the kernel's per-CPU register"},
	syscall.SYS_GETTID:            {sysGettid, Supported, ""},
	syscall.SYS_TKILL:             {sysTkill, Supported, ""},
	syscall.SYS_TIME:              {sysTime, Supported, ""},
	syscall.SYS_FUTEX:             {sysFutex, Partial, "WAIT, WAKE and their BITSET forms (bitset treated as all); no PI or requeue"},
	syscall.SYS_SCHED_SETAFFINITY: {sysSchedSetaffinity, Partial, "accepted, no effect"},
	syscall.SYS_SCHED_GETAFFINITY: {sysSchedGetaffinity, Supported, "one bit per CPU"},
	syscall.SYS_EPOLL_CREATE:      {sysEpollCreate, Supported, ""},
	syscall.SYS_SET_TID_ADDRESS:   {sysSetTidAddress, Supported, ""},
	syscall.SYS_CLOCK_SETTIME:     {sysClockSettime, Partial, "CLOCK_REALTIME only"},
	syscall.SYS_CLOCK_GETTIME:     {sysClockGettime, Partial, "CPU-time clocks report time since boot"},
	syscall.SYS_CLOCK_GETRES:      {sysClockGetres, Supported, "1 ns"},
	syscall.SYS_CLOCK_NANOSLEEP:   {sysClockNanosleep, Supported, ""},
	syscall.SYS_EXIT_GROUP:        {sysExitGroup, Supported, "powers the VM off with the status"},
	syscall.SYS_EPOLL_WAIT:        {sysEpollPwait, Supported, ""},
	syscall.SYS_EPOLL_CTL:         {sysEpollCtl, Partial, "eventfds so far; EPERM for descriptors that cannot be polled"},
	syscall.SYS_TGKILL:            {sysTgkill, Supported, ""},
	syscall.SYS_OPENAT:            {sysOpenat, Supported, "through the VFS: / is the image's packed files, /tmp a tmpfs, /dev, /proc, /sys"},
	syscall.SYS_EPOLL_PWAIT:       {sysEpollPwait, Partial, "the signal mask argument is ignored"},
	syscall.SYS_EVENTFD2:          {sysEventfd2, Supported, ""},
	syscall.SYS_EPOLL_CREATE1:     {sysEpollCreate1, Supported, ""},
	syscall.SYS_DUP3:              {sysDup3, Supported, ""},
	syscall.SYS_PRLIMIT64:         {sysPrlimit64, Supported, ""},
	sysGetrandomNr:                {sysGetrandom, Supported, "ChaCha20 seeded from RDRAND and TSC jitter"},
	syscall.SYS_PWRITE64:          {sysPwrite, Supported, ""},
	syscall.SYS_STAT:              {sysStat, Supported, ""},
	syscall.SYS_LSTAT:             {sysLstat, Supported, ""},
	syscall.SYS_NEWFSTATAT:        {sysNewfstatat, Supported, ""},
	syscall.SYS_READLINKAT:        {sysReadlinkat, Supported, ""},
	syscall.SYS_READLINK:          {sysReadlink, Supported, ""},
	syscall.SYS_MKDIRAT:           {sysMkdirat, Supported, ""},
	syscall.SYS_MKDIR:             {sysMkdir, Supported, ""},
	syscall.SYS_UNLINKAT:          {sysUnlinkat, Supported, ""},
	syscall.SYS_UNLINK:            {sysUnlink, Supported, ""},
	syscall.SYS_RMDIR:             {sysRmdir, Supported, ""},
	sysRenameat2Nr:                {sysRenameat2, Supported, "RENAME_NOREPLACE and RENAME_EXCHANGE"},
	syscall.SYS_RENAMEAT:          {sysRenameat, Supported, ""},
	syscall.SYS_RENAME:            {sysRename, Supported, ""},
	syscall.SYS_LINKAT:            {sysLinkat, Supported, ""},
	syscall.SYS_SYMLINKAT:         {sysSymlinkat, Supported, ""},
	syscall.SYS_SYMLINK:           {sysSymlink, Supported, ""},
	syscall.SYS_FACCESSAT:         {sysFaccessat, Supported, "the program is root: mode bits are not enforced"},
	sysFaccessat2Nr:               {sysFaccessat2, Supported, "the program is root: mode bits are not enforced"},
	syscall.SYS_ACCESS:            {sysAccess, Supported, ""},
	syscall.SYS_FCHMODAT:          {sysFchmodat, Supported, ""},
	syscall.SYS_CHMOD:             {sysChmod, Supported, ""},
	syscall.SYS_FCHMOD:            {sysFchmod, Supported, ""},
	syscall.SYS_UTIMENSAT:         {sysUtimensat, Supported, ""},
	syscall.SYS_STATFS:            {sysStatfs, Supported, ""},
	syscall.SYS_FSTATFS:           {sysFstatfs, Supported, ""},
	syscall.SYS_TRUNCATE:          {sysTruncate, Supported, ""},
	syscall.SYS_FTRUNCATE:         {sysFtruncate, Supported, ""},
	syscall.SYS_CHDIR:             {sysChdir, Supported, ""},
	syscall.SYS_FCHDIR:            {sysFchdir, Supported, ""},
	syscall.SYS_GETDENTS64:        {sysGetdents64, Supported, ""},
	syscall.SYS_FSYNC:             {sysFsync, Supported, ""},
	syscall.SYS_FLOCK:             {sysFlock, Supported, "between open file descriptions, as Linux"},
	syscall.SYS_SYNC:              {sysSync, Supported, "commits every volume's journal"},
	sysSyncfsNr:                   {sysSyncfs, Supported, ""},
	syscall.SYS_FDATASYNC:         {sysFdatasync, Supported, ""},
	syscall.SYS_PIPE2:             {sysPipe2, Partial, "no O_DIRECT (packet mode): EINVAL; pipes come from a pool the service refills, so a burst faster than it gets ENFILE"},
	syscall.SYS_PIPE:              {sysPipe, Supported, "as pipe2 without flags"},
	syscall.SYS_SOCKET:            {sysSocket, Partial, "AF_INET/AF_INET6 stream and datagram, through gVisor's netstack (images that use package net)"},
	syscall.SYS_CONNECT:           {sysConnect, Supported, "non-blocking connect reports EINPROGRESS, then SO_ERROR"},
	syscall.SYS_ACCEPT:            {sysAccept, Supported, ""},
	syscall.SYS_ACCEPT4:           {sysAccept4, Supported, ""},
	syscall.SYS_SENDTO:            {sysSendto, Partial, "no SIGPIPE on EPIPE (Go ignores it for sockets)"},
	syscall.SYS_RECVFROM:          {sysRecvfrom, Supported, ""},
	syscall.SYS_SENDMSG:           {sysSendmsg, Partial, "no control messages"},
	syscall.SYS_RECVMSG:           {sysRecvmsg, Partial, "no control messages"},
	syscall.SYS_SHUTDOWN:          {sysShutdown, Supported, ""},
	syscall.SYS_BIND:              {sysBind, Supported, ""},
	syscall.SYS_LISTEN:            {sysListen, Supported, "backlog honoured"},
	syscall.SYS_GETSOCKNAME:       {sysGetsockname, Supported, ""},
	syscall.SYS_GETPEERNAME:       {sysGetpeername, Supported, ""},
	syscall.SYS_SETSOCKOPT:        {sysSetsockopt, Partial, "the options Go's net package sets (see kernel/net/sockopt.go)"},
	syscall.SYS_GETSOCKOPT:        {sysGetsockopt, Partial, "the options Go's net package reads (see kernel/net/sockopt.go)"},
}

const (
	sysGetrandomNr  = 318
	sysRenameat2Nr  = 316
	sysFaccessat2Nr = 439
	sysSyncfsNr     = 306
)

// threadID is the calling thread's ID, for traces.
//
//go:nosplit
func threadID() int32 {
	if t := sched.Current(); t != nil {
		return t.TID
	}
	return 0
}

// syscallName names system call nr ("" if unknown): for boot traces.
//
//go:nosplit
func syscallName(nr uint64) string {
	if nr < uint64(len(names)) {
		return names[nr]
	}
	if nr-bridge.SysFirst < uint64(len(stardustNames)) {
		return stardustNames[nr-bridge.SysFirst]
	}
	return ""
}

// stardustNames names Stardust's own calls (see package bridge).
var stardustNames = [...]string{
	"stardust_wait", "stardust_done", "stardust_ready", "stardust_dma_alloc",
	"stardust_map_mmio", "stardust_irq_wait", "stardust_devices",
	"stardust_kernel_option", "stardust_pool_put", "stardust_set_addr",
	"stardust_serve", "stardust_file_maps", "stardust_pci_config",
	"stardust_msi_alloc", "stardust_entropy",
}

// logged remembers which unsupported calls were already reported.
var logged [(len(names) + 63) / 64]uint64

// Syscall dispatches the system call in f and stores its result in f.RAX.
//
//go:nosplit
func Syscall(f *amd64.Frame) {
	nr := f.RAX
	if boottrace.Tracing() {
		boottrace.Syscall(nr, f.RDI, threadID())
	}
	if nr-bridge.SysFirst < uint64(len(stardustTable)) {
		f.RAX = uint64(stardustTable[nr-bridge.SysFirst](f))
		return
	}
	if nr < uint64(len(table)) && table[nr].fn != nil {
		f.RAX = uint64(table[nr].fn(f))
		return
	}
	if nr < uint64(len(names)) && logged[nr/64]&(1<<(nr%64)) == 0 {
		logged[nr/64] |= 1 << (nr % 64)
		klog.Str(klog.Prefix)
		klog.Str("unsupported system call ")
		klog.Str(names[nr])
		klog.Str(" (")
		klog.Dec(int64(nr))
		klog.Str("): ENOSYS\n")
	}
	f.RAX = uint64(errno(syscall.ENOSYS))
}

// Init prepares the process state: descriptors and limits.
//
//go:nosplit
func Init() {
	initFDs()
	initRlimits()
}
