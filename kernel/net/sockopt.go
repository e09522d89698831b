package net

import (
	"encoding/binary"
	"syscall"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// Socket options. The set is what Go's net package and common servers use;
// anything else is ENOPROTOOPT, which Go treats as "not supported" where it
// matters. Option values are the raw bytes of the C types: int for most,
// struct linger and struct timeval for a few.

// Option levels and names not exported by package syscall on every GOOS.
const (
	solTCP         = syscall.IPPROTO_TCP
	tcpKeepIdle    = 4
	tcpKeepIntvl   = 5
	tcpKeepCnt     = 6
	tcpQuickAck    = 12
	tcpUserTimeout = 18
	soReusePort    = 15
	soProtocol     = 38
	soDomain       = 39
)

func getInt(val []byte) (int, error) {
	if len(val) < 4 {
		return 0, syscall.EINVAL
	}
	return int(int32(binary.LittleEndian.Uint32(val))), nil
}

func putInt(v int) []byte {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, uint32(int32(v)))
	return b
}

func putBool(v bool) []byte {
	if v {
		return putInt(1)
	}
	return putInt(0)
}

// timeval is struct timeval on amd64: two int64s.
func getTimeval(val []byte) (time.Duration, error) {
	if len(val) < 16 {
		return 0, syscall.EINVAL
	}
	sec := int64(binary.LittleEndian.Uint64(val))
	usec := int64(binary.LittleEndian.Uint64(val[8:]))
	if sec < 0 || usec < 0 || usec >= 1e6 {
		return 0, syscall.EDOM
	}
	return time.Duration(sec)*time.Second + time.Duration(usec)*time.Microsecond, nil
}

func putTimeval(d time.Duration) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b, uint64(d/time.Second))
	binary.LittleEndian.PutUint64(b[8:], uint64(d%time.Second/time.Microsecond))
	return b
}

// SetSockOpt implements setsockopt(2).
func (so *Socket) SetSockOpt(level, name int, val []byte) error {
	ops := so.ep.SocketOptions()
	switch level {
	case syscall.SOL_SOCKET:
		switch name {
		case syscall.SO_LINGER:
			if len(val) < 8 {
				return syscall.EINVAL
			}
			ops.SetLinger(tcpip.LingerOption{
				Enabled: binary.LittleEndian.Uint32(val) != 0,
				Timeout: time.Duration(int32(binary.LittleEndian.Uint32(val[4:]))) * time.Second,
			})
			return nil
		case syscall.SO_RCVTIMEO, syscall.SO_SNDTIMEO:
			d, err := getTimeval(val)
			if err != nil {
				return err
			}
			so.mu.Lock()
			if name == syscall.SO_RCVTIMEO {
				so.rcvTimeo = d
			} else {
				so.sndTimeo = d
			}
			so.mu.Unlock()
			return nil
		}
		v, err := getInt(val)
		if err != nil {
			return err
		}
		switch name {
		case syscall.SO_REUSEADDR:
			ops.SetReuseAddress(v != 0)
		case soReusePort:
			ops.SetReusePort(v != 0)
		case syscall.SO_KEEPALIVE:
			ops.SetKeepAlive(v != 0)
		case syscall.SO_BROADCAST:
			ops.SetBroadcast(v != 0)
		case syscall.SO_SNDBUF, syscall.SO_RCVBUF:
			// Linux doubles the value to account for bookkeeping
			// overhead and reports the doubled value back.
			if v < 0 {
				v = 0
			}
			if name == syscall.SO_SNDBUF {
				ops.SetSendBufferSize(int64(v)*2, true)
			} else {
				ops.SetReceiveBufferSize(int64(v)*2, true)
			}
		case syscall.SO_OOBINLINE, syscall.SO_DONTROUTE, syscall.SO_PRIORITY:
			// Accepted and ignored: no urgent data, single interface,
			// no queueing disciplines.
		default:
			return syscall.ENOPROTOOPT
		}
		return nil
	case solTCP:
		if so.stype != syscall.SOCK_STREAM {
			return syscall.ENOPROTOOPT
		}
		v, err := getInt(val)
		if err != nil {
			return err
		}
		switch name {
		case syscall.TCP_NODELAY:
			ops.SetDelayOption(v == 0)
		case syscall.TCP_CORK:
			ops.SetCorkOption(v != 0)
		case tcpQuickAck:
			ops.SetQuickAck(v != 0)
		case tcpKeepIdle, tcpKeepIntvl:
			// Linux accepts 1 to 32767 seconds.
			if v < 1 || v > 32767 {
				return syscall.EINVAL
			}
			d := time.Duration(v) * time.Second
			if name == tcpKeepIdle {
				opt := tcpip.KeepaliveIdleOption(d)
				return errno(so.ep.SetSockOpt(&opt))
			}
			opt := tcpip.KeepaliveIntervalOption(d)
			return errno(so.ep.SetSockOpt(&opt))
		case tcpKeepCnt:
			if v < 1 || v > 127 {
				return syscall.EINVAL
			}
			return errno(so.ep.SetSockOptInt(tcpip.KeepaliveCountOption, v))
		case syscall.TCP_MAXSEG:
			return errno(so.ep.SetSockOptInt(tcpip.MaxSegOption, v))
		case tcpUserTimeout:
			if v < 0 {
				return syscall.EINVAL
			}
			opt := tcpip.TCPUserTimeoutOption(time.Duration(v) * time.Millisecond)
			return errno(so.ep.SetSockOpt(&opt))
		default:
			return syscall.ENOPROTOOPT
		}
		return nil
	case syscall.IPPROTO_IPV6:
		if so.family != syscall.AF_INET6 {
			return syscall.ENOPROTOOPT
		}
		v, err := getInt(val)
		if err != nil {
			return err
		}
		switch name {
		case syscall.IPV6_V6ONLY:
			// Linux refuses to change it on a bound socket.
			if _, err := so.ep.GetLocalAddress(); err == nil && so.boundPort() {
				return syscall.EINVAL
			}
			ops.SetV6Only(v != 0)
			return nil
		case syscall.IPV6_UNICAST_HOPS:
			return errno(so.ep.SetSockOptInt(tcpip.IPv6HopLimitOption, v))
		case syscall.IPV6_TCLASS:
			return errno(so.ep.SetSockOptInt(tcpip.IPv6TrafficClassOption, v))
		}
		return syscall.ENOPROTOOPT
	case syscall.IPPROTO_IP:
		if so.family != syscall.AF_INET {
			return syscall.ENOPROTOOPT
		}
		v, err := getInt(val)
		if err != nil {
			return err
		}
		switch name {
		case syscall.IP_TTL:
			return errno(so.ep.SetSockOptInt(tcpip.IPv4TTLOption, v))
		case syscall.IP_TOS:
			return errno(so.ep.SetSockOptInt(tcpip.IPv4TOSOption, v))
		}
		return syscall.ENOPROTOOPT
	}
	return syscall.ENOPROTOOPT
}

// boundPort reports whether the socket has a local port, i.e. is bound.
func (so *Socket) boundPort() bool {
	fa, err := so.ep.GetLocalAddress()
	return err == nil && fa.Port != 0
}

// GetSockOpt implements getsockopt(2).
func (so *Socket) GetSockOpt(level, name int) ([]byte, error) {
	ops := so.ep.SocketOptions()
	switch level {
	case syscall.SOL_SOCKET:
		switch name {
		case syscall.SO_ERROR:
			return putInt(errnoValue(so.takeError())), nil
		case syscall.SO_TYPE:
			return putInt(so.stype), nil
		case soDomain:
			return putInt(so.family), nil
		case soProtocol:
			return putInt(so.protocol), nil
		case syscall.SO_ACCEPTCONN:
			return putBool(ops.GetAcceptConn()), nil
		case syscall.SO_REUSEADDR:
			return putBool(ops.GetReuseAddress()), nil
		case soReusePort:
			return putBool(ops.GetReusePort()), nil
		case syscall.SO_KEEPALIVE:
			return putBool(ops.GetKeepAlive()), nil
		case syscall.SO_BROADCAST:
			return putBool(ops.GetBroadcast()), nil
		case syscall.SO_SNDBUF:
			return putInt(int(ops.GetSendBufferSize())), nil
		case syscall.SO_RCVBUF:
			return putInt(int(ops.GetReceiveBufferSize())), nil
		case syscall.SO_OOBINLINE:
			return putBool(true), nil
		case syscall.SO_LINGER:
			l := ops.GetLinger()
			b := make([]byte, 8)
			if l.Enabled {
				binary.LittleEndian.PutUint32(b, 1)
			}
			binary.LittleEndian.PutUint32(b[4:], uint32(l.Timeout/time.Second))
			return b, nil
		case syscall.SO_RCVTIMEO, syscall.SO_SNDTIMEO:
			rcv, snd := so.timeouts()
			if name == syscall.SO_RCVTIMEO {
				return putTimeval(rcv), nil
			}
			return putTimeval(snd), nil
		}
		return nil, syscall.ENOPROTOOPT
	case solTCP:
		if so.stype != syscall.SOCK_STREAM {
			return nil, syscall.ENOPROTOOPT
		}
		switch name {
		case syscall.TCP_NODELAY:
			return putBool(!ops.GetDelayOption()), nil
		case syscall.TCP_CORK:
			return putBool(ops.GetCorkOption()), nil
		case tcpQuickAck:
			return putBool(ops.GetQuickAck()), nil
		case tcpKeepIdle:
			var opt tcpip.KeepaliveIdleOption
			if err := so.ep.GetSockOpt(&opt); err != nil {
				return nil, errno(err)
			}
			return putInt(int(time.Duration(opt) / time.Second)), nil
		case tcpKeepIntvl:
			var opt tcpip.KeepaliveIntervalOption
			if err := so.ep.GetSockOpt(&opt); err != nil {
				return nil, errno(err)
			}
			return putInt(int(time.Duration(opt) / time.Second)), nil
		case tcpKeepCnt:
			v, err := so.ep.GetSockOptInt(tcpip.KeepaliveCountOption)
			return putInt(v), errno(err)
		case syscall.TCP_MAXSEG:
			v, err := so.ep.GetSockOptInt(tcpip.MaxSegOption)
			return putInt(v), errno(err)
		case tcpUserTimeout:
			var opt tcpip.TCPUserTimeoutOption
			if err := so.ep.GetSockOpt(&opt); err != nil {
				return nil, errno(err)
			}
			return putInt(int(time.Duration(opt) / time.Millisecond)), nil
		}
		return nil, syscall.ENOPROTOOPT
	case syscall.IPPROTO_IPV6:
		if so.family != syscall.AF_INET6 {
			return nil, syscall.ENOPROTOOPT
		}
		switch name {
		case syscall.IPV6_V6ONLY:
			return putBool(ops.GetV6Only()), nil
		case syscall.IPV6_UNICAST_HOPS:
			v, err := so.ep.GetSockOptInt(tcpip.IPv6HopLimitOption)
			return putInt(v), errno(err)
		case syscall.IPV6_TCLASS:
			v, err := so.ep.GetSockOptInt(tcpip.IPv6TrafficClassOption)
			return putInt(v), errno(err)
		}
		return nil, syscall.ENOPROTOOPT
	case syscall.IPPROTO_IP:
		if so.family != syscall.AF_INET {
			return nil, syscall.ENOPROTOOPT
		}
		switch name {
		case syscall.IP_TTL:
			v, err := so.ep.GetSockOptInt(tcpip.IPv4TTLOption)
			return putInt(v), errno(err)
		case syscall.IP_TOS:
			v, err := so.ep.GetSockOptInt(tcpip.IPv4TOSOption)
			return putInt(v), errno(err)
		}
		return nil, syscall.ENOPROTOOPT
	}
	return nil, syscall.ENOPROTOOPT
}

// errnoValue is the positive errno number of err (0 for nil).
func errnoValue(err error) int {
	if e, ok := err.(syscall.Errno); ok {
		return int(e)
	}
	return 0
}

// takeError reads and clears the pending socket error (SO_ERROR). Linux
// keeps one error per socket; netstack's TCP endpoint can hold the same
// failure twice (as its "hard" error and as its last error), so a repeat
// of the same error is drained too, or a second SO_ERROR read would see
// it again.
func (so *Socket) takeError() error {
	err := so.ep.LastError()
	if err != nil {
		for i := 0; i < 2; i++ {
			next := so.ep.LastError()
			if next == nil || errno(next) != errno(err) {
				if next != nil {
					so.ep.SocketOptions().SetLastError(next)
				}
				break
			}
		}
	}
	return errno(err)
}
