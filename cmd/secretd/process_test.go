package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/niomon/niomon/secretd"
)

// The tests here run secretd as real processes. The test binary plays the
// secretd binary: with SECRETD_TEST_AS_MAIN=1 it runs main's code instead
// of the tests, and `secretd dev` re-executes it (os.Executable) for the
// enclave child, which inherits the variable.
func TestMain(m *testing.M) {
	if os.Getenv("SECRETD_TEST_AS_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	code := m.Run()
	stopBenchCluster()
	os.Exit(code)
}

// proc is a secretd process started by a test.
type proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	lines  chan string // stdout, line by line
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

func startProc(t testing.TB, args ...string) *proc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: exec.Command(exe, args...), lines: make(chan string, 64), stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "SECRETD_TEST_AS_MAIN=1")
	p.cmd.Stderr = p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitFor reads stdout until a line "key: value" and returns the value.
func (p *proc) waitFor(key string) string {
	p.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				<-p.done
				p.t.Fatalf("process exited (%v) before printing %q; stderr:\n%s", p.err, key, p.stderr.Bytes())
			}
			if v, found := strings.CutPrefix(line, key+": "); found {
				return v
			}
		case <-timeout:
			p.t.Fatalf("no %q line after 30s; stderr:\n%s", key, p.stderr.Bytes())
		}
	}
}

// waitForOne reads stdout until a line "key: value" for one of keys, and
// returns that key and its value.
func (p *proc) waitForOne(keys ...string) (string, string) {
	p.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				<-p.done
				p.t.Fatalf("process exited (%v) before printing any of %q; stderr:\n%s", p.err, keys, p.stderr.Bytes())
			}
			for _, k := range keys {
				if v, found := strings.CutPrefix(line, k+": "); found {
					return k, v
				}
			}
		case <-timeout:
			p.t.Fatalf("none of %q after 30s; stderr:\n%s", keys, p.stderr.Bytes())
		}
	}
}

// stop sends sig and waits for a clean exit.
func (p *proc) stop(sig syscall.Signal) {
	p.t.Helper()
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		if p.err != nil {
			p.t.Fatalf("exit after %v: %v; stderr:\n%s", sig, p.err, p.stderr.Bytes())
		}
	case <-time.After(15 * time.Second):
		p.t.Fatalf("still running 15s after %v", sig)
	}
}

func shortTempDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "sdp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func dial(t testing.TB, addr, identity string, key secretd.Key) *secretd.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := secretd.Dial(ctx, addr, secretd.Options{Identity: identity, Key: key, Attestation: &secretd.AttestationPolicy{AllowDev: true}})
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// tap is a proxy that records every byte it relays in both directions.
type tap struct {
	ln  net.Listener
	mu  sync.Mutex
	rec bytes.Buffer
	wg  sync.WaitGroup
}

func startTap(t *testing.T, network, listen, target string) *tap {
	t.Helper()
	ln, err := net.Listen(network, listen)
	if err != nil {
		t.Fatal(err)
	}
	tp := &tap{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial(network, target)
			if err != nil {
				c.Close()
				continue
			}
			tp.wg.Add(2)
			record := func(b []byte) {
				tp.mu.Lock()
				tp.rec.Write(b)
				tp.mu.Unlock()
			}
			go func() { defer tp.wg.Done(); copyConn(u, c, record) }()
			go func() { defer tp.wg.Done(); copyConn(c, u, record) }()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return tp
}

func (tp *tap) bytes() []byte {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return bytes.Clone(tp.rec.Bytes())
}

// readTree returns the contents of every file under dir.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&os.ModeSocket != 0 {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out[path] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// vmHWM is a process's peak resident memory in KiB.
func vmHWM(t testing.TB, pid int) int { return procKiB(t, pid, "VmHWM") }

// vmRSS is a process's resident memory now, in KiB.
func vmRSS(t testing.TB, pid int) int { return procKiB(t, pid, "VmRSS") }

func procKiB(t testing.TB, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			var kb int
			fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb)
			return kb
		}
	}
	t.Fatalf("no %s in /proc status", field)
	return 0
}

func loadKey(t testing.TB, path string) secretd.Key {
	t.Helper()
	k, err := secretd.LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
