package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestCommandLineErrorsAreNamed(t *testing.T) {
	dir := t.TempDir()
	badConfig := filepath.Join(dir, "bad.json")
	os.WriteFile(badConfig, []byte(`{"data": "x", "clientkeys": []}`), 0o600)
	existing := filepath.Join(dir, "exists.key")
	os.WriteFile(existing, []byte("keep me"), 0o600)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no command", nil, 2, "Usage"},
		{"an unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"runner without --data", []string{"runner", "--enclave", "unix:/x"}, 2, "--data is required"},
		{"runner without --enclave", []string{"runner", "--data", dir}, 2, "--enclave is required"},
		{"a client key that is not base64", []string{"runner", "--data", dir, "--enclave", "unix:/x", "--client-key", "not-a-key"}, 2, "client key 1"},
		{"a config file with an unknown field", []string{"runner", "--config", badConfig, "--enclave", "unix:/x"}, 1, `unknown field "clientkeys"`},
		{"enclave without --listen", []string{"enclave", "--dev"}, 2, "--listen is required"},
		{"enclave with a bad socket scheme", []string{"enclave", "--dev", "--listen", "tcp:1"}, 1, "want unix:/path or vsock:PORT"},
		{"plaintext import outside dev mode", []string{"enclave", "--dev-allow-plaintext-import", "--listen", "unix:/x"}, 2, "needs --dev"},
		{"nitro mode off Nitro hardware", []string{"enclave", "--listen", "vsock:5000"}, 1, "Nitro Security Module"},
		{"keygen without --out", []string{"keygen"}, 2, "--out is required"},
		{"keygen over an existing file", []string{"keygen", "--out", existing}, 1, "file exists"},
		{"a bad log level", []string{"enclave", "--dev", "--listen", "unix:/x", "--log-level", "loud"}, 2, "--log-level"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != tc.wantCode || !strings.Contains(stderr.String(), tc.wantErr) {
				t.Fatalf("got exit %d and stderr %q; want exit %d and %q", code, stderr.String(), tc.wantCode, tc.wantErr)
			}
		})
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Fatalf("keygen changed an existing file: got %q", b)
	}
}

func TestKeygenWritesAPrivateKeyFileAndPrintsOnlyThePublicKey(t *testing.T) {
	out := filepath.Join(t.TempDir(), "app.key")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"keygen", "--out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: got %v, %v; want mode 0600", fi, err)
	}
	b, _ := os.ReadFile(out)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	priv := lines[len(lines)-1]
	if strings.Contains(stdout.String()+stderr.String(), priv) {
		t.Fatal("keygen printed the private key")
	}
	if !strings.HasPrefix(stdout.String(), "public_key: ") {
		t.Fatalf("stdout: got %q, want a public_key line", stdout.String())
	}

	// The public key, printed again from the file.
	first := stdout.String()
	stdout.Reset()
	if code := run([]string{"keygen", "--show", out}, &stdout, &stderr); code != 0 || stdout.String() != first {
		t.Fatalf("keygen --show: exit %d, %q; want %q", code, stdout.String(), first)
	}
	if strings.Contains(stdout.String()+stderr.String(), priv) {
		t.Fatal("keygen --show printed the private key")
	}
	notKey := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(notKey, []byte("secret-looking-words\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a missing file", []string{"keygen", "--show", out + ".missing"}, "--show " + out + ".missing"},
		{"a file that is not a key", []string{"keygen", "--show", notKey}, "--show " + notKey},
		{"--show with --out", []string{"keygen", "--show", out, "--out", out + ".2"}, "one or the other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout.Reset()
			stderr.Reset()
			if code := run(tc.args, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), tc.want) || stdout.Len() != 0 {
				t.Fatalf("exit %d, stdout %q, stderr %q; want a failure naming %q", code, stdout.String(), stderr.String(), tc.want)
			}
			if strings.Contains(stderr.String(), "secret-looking-words") {
				t.Fatalf("the error shows the file's content: %q", stderr.String())
			}
		})
	}
}

func TestRunnerTakesItsAllowListFromAConfigFile(t *testing.T) {
	dir := shortTempDir(t)
	sock := "unix:" + filepath.Join(dir, "e.sock")
	keyFile := filepath.Join(dir, "app.key")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"keygen", "--out", keyFile}, &stdout, &stderr); code != 0 {
		t.Fatal(stderr.String())
	}
	pub := strings.TrimSpace(strings.TrimPrefix(stdout.String(), "public_key: "))
	cfg := filepath.Join(dir, "runner.json")
	os.WriteFile(cfg, []byte(`{"listen": "127.0.0.1:0", "data": "`+filepath.Join(dir, "data")+`", "enclave": "`+sock+`", "client_keys": ["`+pub+`"]}`), 0o600)

	enc := startProc(t, "enclave", "--dev", "--listen", sock)
	run := startProc(t, "runner", "--dev", "--dev-genesis", "--config", cfg)
	addr, id := run.waitFor("listen"), run.waitFor("cluster_identity")
	key := loadKey(t, keyFile)
	c := dial(t, addr, id, key)
	if err := c.Ping(ctx(t)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	run.stop(syscall.SIGTERM)
	enc.stop(syscall.SIGTERM)
}
