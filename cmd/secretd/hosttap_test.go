package main

import (
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/hostlink"
)

// hostTap sits between a runner and its enclave (the runner dials it):
// client connections are relayed as they are, host links message by
// message, and the answer to one chosen storage request can be held back
// (the runner answering slowly, as it may).
type hostTap struct {
	t      *testing.T
	ln     net.Listener
	target string

	mu      sync.Mutex
	hold    func(m *hostlink.Message) bool // an enclave request whose answer to hold
	delay   time.Duration
	held    map[uint64]bool
	holding int
}

func startHostTap(t *testing.T, listen, target string) *hostTap {
	t.Helper()
	ln, err := net.Listen("unix", listen)
	if err != nil {
		t.Fatal(err)
	}
	h := &hostTap{t: t, ln: ln, target: target, held: map[uint64]bool{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go h.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return h
}

// holdNext holds back, by d, the answer to the next enclave request that
// match selects.
func (h *hostTap) holdNext(match func(m *hostlink.Message) bool, d time.Duration) {
	h.mu.Lock()
	h.hold, h.delay = match, d
	h.mu.Unlock()
}

func (h *hostTap) serve(c net.Conn) {
	defer c.Close()
	u, err := net.Dial("unix", h.target)
	if err != nil {
		return
	}
	defer u.Close()
	var kind [1]byte
	if _, err := c.Read(kind[:]); err != nil {
		return
	}
	if _, err := u.Write(kind[:]); err != nil {
		return
	}
	if kind[0] != hostlink.ConnHost {
		go func() { copyConn(u, c, nil) }()
		copyConn(c, u, nil)
		return
	}
	var wmu sync.Mutex // the enclave's side: whole messages, one writer at a time
	go func() {        // enclave → runner
		for {
			m, err := hostlink.ReadMessage(u)
			if err != nil {
				c.Close()
				return
			}
			h.mu.Lock()
			if h.hold != nil && m.Type == hostlink.TRequest && h.hold(m) {
				h.held[m.ID] = true
				h.hold = nil
			}
			h.mu.Unlock()
			if hostlink.WriteMessage(c, m) != nil {
				return
			}
		}
	}()
	for { // runner → enclave
		m, err := hostlink.ReadMessage(c)
		if err != nil {
			return
		}
		h.mu.Lock()
		held, d := h.held[m.ID] && m.Type == hostlink.TResponse, h.delay
		delete(h.held, m.ID)
		if held {
			h.holding++
		}
		h.mu.Unlock()
		if held {
			go func() {
				time.Sleep(d)
				wmu.Lock()
				defer wmu.Unlock()
				_ = hostlink.WriteMessage(u, m)
			}()
			continue
		}
		wmu.Lock()
		err = hostlink.WriteMessage(u, m)
		wmu.Unlock()
		if err != nil {
			return
		}
	}
}

// copyConn relays src to dst until either ends, passing each chunk to
// record first (if set), then closes both.
func copyConn(dst, src net.Conn, record func([]byte)) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if record != nil {
				record(buf[:n])
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
}

// holds reports whether an answer was held back (or is being held).
func (h *hostTap) holds() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.held) > 0 || h.holding > 0
}

// tapped stops s and starts it again with a hostTap between its runner
// and its enclave.
func tapped(t *testing.T, s *stack, name string) *hostTap {
	t.Helper()
	s.stop()
	sock := filepath.Join(s.dir, name+".sock")
	tap := startHostTap(t, sock, strings.TrimPrefix(s.sock, "unix:"))
	s.via = "unix:" + sock
	s.start()
	return tap
}
