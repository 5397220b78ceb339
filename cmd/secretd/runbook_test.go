package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
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

// A runner whose enclave cannot open the stored master key says which of
// the two it is: another sealing key (as on a replica that joined the
// cluster and restarts without --join) or a damaged master key, each with
// what to do. Put back as it was, the store boots the same cluster.
func TestABootThatCannotOpenTheMasterKeySaysWhetherTheKeyIsAnotherOrTheRecordIsDamaged(t *testing.T) {
	s := newStack(t)
	s.stop()
	keyPath := filepath.Join(s.data, "DEV-ONLY-INSECURE-master-sealing-key")
	devKey, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	master := s.takeRow(s.db(), "master", "current")
	tests := []struct {
		name   string
		damage func(t *testing.T)
		want   []string
	}{
		{"another sealing key", func(t *testing.T) {
			other := make([]byte, 32)
			rand.Read(other)
			if err := os.WriteFile(keyPath, []byte(base64.StdEncoding.EncodeToString(other)+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, []string{"sealed with another key", "--join again", "--recover"}},
		{"a damaged master key", func(t *testing.T) {
			var rec map[int]any
			if err := cbor.Unmarshal(master.blob, &rec); err != nil {
				t.Fatal(err)
			}
			sealed := bytes.Clone(rec[3].([]byte))
			sealed[len(sealed)/2] ^= 1
			rec[3] = sealed
			blob, err := cbor.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			s.putRow(s.db(), "master", "current", row{master.version, blob})
		}, []string{"the sealed master key in the store is damaged", "Restore the store", "--recover"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.damage(t)
			s.closeDB()
			enc := startProc(t, "enclave", "--dev", "--listen", s.sock)
			defer enc.stop(syscall.SIGTERM)
			run := startProc(t, "runner", "--dev", "--listen", "127.0.0.1:0", "--enclave", s.sock, "--data", s.data, "--client-key", s.key.PublicKey())
			select {
			case <-run.done:
			case <-time.After(15 * time.Second):
				t.Fatal("the runner still runs 15 s later")
			}
			stderr := string(run.stderr.Bytes())
			for _, w := range tc.want {
				if run.err == nil || !strings.Contains(stderr, w) {
					t.Fatalf("exit %v, stderr %q; want a failure that says %q", run.err, stderr, w)
				}
			}
			// Put back.
			if err := os.WriteFile(keyPath, devKey, 0o600); err != nil {
				t.Fatal(err)
			}
			s.putRow(s.db(), "master", "current", master)
		})
	}
	s.closeDB()
	s.start() // fails if the cluster identity changed
	defer s.stop()
	if _, err := s.dial().Info(ctx(t)); err != nil {
		t.Fatal(err)
	}
}

// A runner started before its enclave (or pointed at the wrong socket)
// says so within seconds, naming the socket and the cause, and serves
// once an enclave listens there.
func TestARunnerWithoutItsEnclaveSaysWhyAndServesWhenItComes(t *testing.T) {
	dir := shortTempDir(t)
	keyFile := filepath.Join(dir, "app.key")
	if code, _, stderr := cli(t, "keygen", "--out", keyFile); code != 0 {
		t.Fatal(stderr)
	}
	key := loadKey(t, keyFile)
	sockPath := filepath.Join(dir, "e.sock")
	run := startProc(t, "runner", "--dev", "--dev-genesis", "--listen", "127.0.0.1:0", "--enclave", "unix:"+sockPath, "--data", filepath.Join(dir, "data"), "--client-key", key.PublicKey())
	want := []string{"no enclave answers at unix:" + sockPath, "no such file or directory"}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		stderr := string(run.stderr.Bytes())
		if strings.Contains(stderr, want[0]) && strings.Contains(stderr, want[1]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stderr 15 s after start: %q; want %q", stderr, want)
		}
	}
	enc := startProc(t, "enclave", "--dev", "--listen", "unix:"+sockPath)
	defer enc.stop(syscall.SIGTERM)
	addr := run.waitFor("listen")
	id := run.waitFor("cluster_identity")
	if _, err := dial(t, addr, id, key).Info(ctx(t)); err != nil {
		t.Fatal(err)
	}
	run.stop(syscall.SIGTERM)
}
