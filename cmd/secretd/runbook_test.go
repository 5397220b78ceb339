package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A runner started without --dev beside a dev enclave, in any mode, exits
// at once and says what to do, rather than wait for an enclave that
// cannot boot.
func TestARunnerThatCannotBootItsEnclaveExitsWithTheReason(t *testing.T) {
	dir := shortTempDir(t)
	keyFile := filepath.Join(dir, "app.key")
	if code, _, stderr := cli(t, "keygen", "--out", keyFile); code != 0 {
		t.Fatal(stderr)
	}
	key := loadKey(t, keyFile)
	sock := "unix:" + filepath.Join(dir, "e.sock")
	enc := startProc(t, "enclave", "--dev", "--listen", sock)
	defer enc.stop(syscall.SIGTERM)
	waitForFile(t, filepath.Join(dir, "e.sock"))
	tests := []struct {
		name string
		mode []string
	}{
		{"a normal boot", nil},
		{"a recovery", []string{"--recover"}},
		{"a join", []string{"--join", "127.0.0.1:9", "--join-identity", key.PublicKey(), "--join-key", keyFile}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"runner", "--listen", "127.0.0.1:0", "--enclave", sock, "--data", filepath.Join(dir, "data", string(rune('a'+i))), "--client-key", key.PublicKey()}, tc.mode...)
			run := startProc(t, args...)
			select {
			case <-run.done:
			case <-time.After(15 * time.Second):
				t.Fatal("the runner still runs 15 s later")
			}
			if run.err == nil || !strings.Contains(string(run.stderr.Bytes()), "start the runner with --dev too") {
				t.Fatalf("exit %v, stderr %q; want a failure that names --dev", run.err, run.stderr.Bytes())
			}
		})
	}
}
