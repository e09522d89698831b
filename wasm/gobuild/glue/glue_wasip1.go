//go:build wasip1

// This file is added to the user's main package when it is built for the
// wasi target (it is not compiled as part of Stardust itself). It connects
// the real TCP listeners that Stardust's WASI host pre-opens to the
// in-process network that net.Listen uses on wasip1: every connection
// accepted on a host socket is spliced to a connection dialed to the port
// the program listens on, so the program needs no change.
//
// Identifiers are prefixed with stardustGlue so they cannot collide with the
// program's own.

package main

import (
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stardustGlueFiles keeps the listeners' *os.File values reachable: on
// wasip1 net.FileListener shares the descriptor instead of duplicating it,
// so the File's finalizer would otherwise close the socket under the
// listener.
var stardustGlueFiles []*os.File

func init() {
	// STARDUST_LISTEN is "FD=GUESTPORT,..." set by the host; it is removed so
	// the program sees only its own environment.
	spec := os.Getenv("STARDUST_LISTEN")
	if spec == "" {
		return
	}
	os.Unsetenv("STARDUST_LISTEN")
	for _, item := range strings.Split(spec, ",") {
		fdText, port, ok := strings.Cut(item, "=")
		fd, err := strconv.Atoi(fdText)
		if !ok || err != nil {
			println("stardust: bad STARDUST_LISTEN entry", item)
			continue
		}
		// Go's netpoller can only wait on non-blocking descriptors.
		if err := syscall.SetNonblock(fd, true); err != nil {
			println("stardust: listener fd", fd, ":", err.Error())
			continue
		}
		f := os.NewFile(uintptr(fd), "stardust-listener-"+port)
		ln, err := net.FileListener(f)
		if err != nil {
			println("stardust: listener fd", fd, ":", err.Error())
			continue
		}
		stardustGlueFiles = append(stardustGlueFiles, f)
		go stardustGlueAccept(ln, port)
	}
}

func stardustGlueAccept(ln net.Listener, port string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			println("stardust: accept:", err.Error())
			return
		}
		go stardustGlueSplice(c, port)
	}
}

// stardustGlueSplice copies bytes both ways between a host connection and a
// connection to the program's in-process listener.
func stardustGlueSplice(c net.Conn, port string) {
	defer c.Close()
	// The program may not be listening yet when the first client arrives
	// (the host's socket exists before main runs), so retry for a while.
	var g net.Conn
	var err error
	for delay := time.Millisecond; ; delay *= 2 {
		g, err = net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil || delay > 2*time.Second {
			break
		}
		time.Sleep(delay)
	}
	if err != nil {
		println("stardust: nothing listens on guest port", port, ":", err.Error())
		return
	}
	defer g.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(g, c)
		stardustGlueCloseWrite(g)
		close(done)
	}()
	io.Copy(c, g)
	stardustGlueCloseWrite(c)
	<-done
}

func stardustGlueCloseWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	} else {
		c.Close()
	}
}
