package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests here run niomon as real processes. The test binary plays the
// niomon binary: with NIOMON_TEST_AS_MAIN=1 it runs main's code instead of
// the tests, and niomon dev re-executes it (os.Executable) for secretd and
// the enclave, which inherit the variable.
func TestMain(m *testing.M) {
	if os.Getenv("NIOMON_TEST_AS_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
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

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a niomon process started by a test.
type proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	lines  chan string
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

func command(args ...string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "NIOMON_TEST_AS_MAIN=1")
	return cmd
}

func startProc(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	cmd := command(args...)
	cmd.Env = append(cmd.Env, env...)
	return startCmd(t, cmd)
}

// startCmd starts cmd, reading its stdout line by line; the test's
// cleanup kills it (and its children) if it still runs.
func startCmd(t testing.TB, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{t: t, cmd: cmd, lines: make(chan string, 256), stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
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
			p.stdout.Write([]byte(sc.Text() + "\n"))
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		close(p.lines)
	}()
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			killTree(p.cmd.Process.Pid)
			<-p.done
		}
	})
	return p
}

// waitFor reads stdout until a line whose trimmed text starts with
// prefix, and returns the rest of it, trimmed.
func (p *proc) waitFor(prefix string) string {
	p.t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				<-p.done
				p.t.Fatalf("process exited (%v) before printing %q; stderr:\n%s", p.err, prefix, p.stderr)
			}
			if v, found := strings.CutPrefix(strings.TrimSpace(line), prefix); found {
				return strings.TrimSpace(v)
			}
		case <-timeout:
			p.t.Fatalf("no %q line after 60s; stderr:\n%s", prefix, p.stderr)
		}
	}
}

// stop sends SIGINT (Ctrl-C) and waits for a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
		if p.err != nil {
			p.t.Fatalf("exit after Ctrl-C: %v; stderr:\n%s", p.err, p.stderr)
		}
	case <-time.After(30 * time.Second):
		p.t.Fatalf("still running 30s after Ctrl-C")
	}
}

// children lists pid's descendants (this test started them all).
func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(s); err == nil {
				out = append(out, c)
				out = append(out, children(c)...)
			}
		}
	}
	return out
}

// killTree sends SIGKILL to pid and every process under it.
func killTree(pid int) {
	for _, c := range append([]int{pid}, children(pid)...) {
		_ = syscall.Kill(c, syscall.SIGKILL)
	}
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// A zombie (state Z) has exited.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

// devStack is a running niomon dev.
type devStack struct {
	p    *proc
	url  string
	demo string // the demo dApp's URL
	data string
}

// freePort finds a loopback port that is free now (a restarted stack
// reuses it: the CLI's saved session names the server's URL).
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startDev(t testing.TB, data, listen string, env []string, extra ...string) *devStack {
	t.Helper()
	args := []string{"dev", "--listen", listen, "--data", data}
	if !slices.Contains(extra, "--demo") {
		args = append(args, "--demo", "127.0.0.1:0")
	}
	p := startProc(t, env, append(args, extra...)...)
	u := strings.Fields(p.waitFor("open:"))[0] // the URL, then what it is
	d := &devStack{p: p, url: strings.TrimRight(u, "/"), data: data}
	if !slices.Contains(extra, "none") {
		d.demo = strings.TrimRight(strings.Fields(p.waitFor("demo:"))[0], "/")
	}
	return d
}

var codeRe = regexp.MustCompile(`(?m)^\s+(\d{6}|[0-9A-Z]{5}-[0-9A-Z]{5})\s*$`)

// mailCode polls the dev mailbox's JSON view for the n-th mail to addr
// (1-based, since this mailbox started) and returns its code.
func (d *devStack) mailCode(addr string, n int) (string, error) {
	text, err := d.mailText(addr, n)
	if err != nil {
		return "", err
	}
	m := codeRe.FindStringSubmatch(text)
	if m == nil {
		return "", fmt.Errorf("the mail to %s has no code", addr)
	}
	return m[1], nil
}

// mailText polls the dev mailbox for the n-th mail to addr and returns
// its text.
func (d *devStack) mailText(addr string, n int) (string, error) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(d.url + "/dev/mailbox/api/messages")
		if err == nil {
			var msgs []struct {
				To   []string `json:"to"`
				Text string   `json:"text"`
			}
			err = json.NewDecoder(resp.Body).Decode(&msgs)
			resp.Body.Close()
			var mine []string
			for i := len(msgs) - 1; i >= 0; i-- { // oldest first
				if len(msgs[i].To) == 1 && msgs[i].To[0] == addr {
					mine = append(mine, msgs[i].Text)
				}
			}
			if err == nil && len(mine) >= n {
				return mine[n-1], nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", fmt.Errorf("no mail %d to %s in the dev mailbox", n, addr)
}

// cli runs niomon client against the stack and returns stdout; a failure
// is fatal unless wantFail.
func (d *devStack) cli(t testing.TB, stdin io.Reader, key string, args ...string) string {
	t.Helper()
	out, errOut, err := d.cliResult(stdin, key, args...)
	if err != nil {
		t.Fatalf("niomon client %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func (d *devStack) cliResult(stdin io.Reader, key string, args ...string) (string, string, error) {
	cmd := command(append([]string{"client", "--server", d.url, "--key", key}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return "", "", err
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return stdout.String(), stderr.String(), err
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		return stdout.String(), stderr.String(), ctx.Err()
	}
}

func sleepMillis(n int) { time.Sleep(time.Duration(n) * time.Millisecond) }
