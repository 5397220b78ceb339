package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/internal/devmail"
	"github.com/niomon/niomon/internal/pgtest"
	"github.com/niomon/niomon/internal/server"
	"github.com/niomon/niomon/internal/sqldb"
)

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runOnce runs niomon with args to completion.
func runOnce(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := command(args...)
	cmd.Env = append(cmd.Env, env...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errOut.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, out.String(), errOut.String()
}

// productionStack is what niomon serve needs, started by the test: a
// secretd (dev mode, as a process), an SMTP server, a database.
type productionStack struct {
	dir      string
	secretd  *proc
	mbox     *devmail.Mailbox
	listen   string
	config   map[string]any
	confPath string
}

func newProductionStack(t *testing.T, database map[string]string) *productionStack {
	t.Helper()
	dir := t.TempDir()
	sd := startProc(t, nil, "secretd", "dev", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "secretd"))
	keyFile := sd.waitFor("dev_client_key_file:") // printed first
	addr := sd.waitFor("listen:")
	identity := sd.waitFor("cluster_identity:")
	ss := newServeSupport(t, dir)
	listen := freePort(t)
	ps := &productionStack{dir: dir, secretd: sd, mbox: ss.mbox, listen: listen}
	ps.config = ss.config(listen, database, secretdSettings{addrs: []string{addr}, identity: identity, keyFile: keyFile})
	b, _ := json.Marshal(ps.config)
	ps.confPath = writeFile(t, dir, "niomon.json", string(b))
	return ps
}

// serveSupport is what every niomon serve of a test shares besides
// secretd and the database: an SMTP server (the dev mailbox) and a token
// key file.
type serveSupport struct {
	mbox      *devmail.Mailbox
	smtpPort  int
	tokenFile string
}

func newServeSupport(t *testing.T, dir string) *serveSupport {
	t.Helper()
	mbox, err := devmail.Start(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mbox.Close() })
	_, mport, _ := net.SplitHostPort(mbox.Addr())
	port, _ := strconv.Atoi(mport)
	_, b64, err := server.NewTokenKey()
	if err != nil {
		t.Fatal(err)
	}
	return &serveSupport{mbox: mbox, smtpPort: port, tokenFile: writeFile(t, dir, "token.key", b64+"\n")}
}

type secretdSettings struct {
	addrs             []string
	identity, keyFile string
}

// config is a niomon serve configuration listening on listen (a
// loopback address, its public URL http://localhost:PORT).
func (ss *serveSupport) config(listen string, database map[string]string, sd secretdSettings) map[string]any {
	_, port, _ := net.SplitHostPort(listen)
	return map[string]any{
		"public_url":     "http://localhost:" + port,
		"listen":         listen,
		"database":       database,
		"smtp":           map[string]any{"host": "127.0.0.1", "port": ss.smtpPort, "from": "Niomon <no-reply@example.com>", "tls": "none"},
		"secretd":        map[string]any{"addrs": sd.addrs, "identity": sd.identity, "key_file": sd.keyFile, "attestation": map[string]any{"allow_dev": true}},
		"token_key_file": ss.tokenFile,
	}
}

func TestServe_RefusesAWrongSettingNamingIt(t *testing.T) {
	ps := newProductionStack(t, map[string]string{"sqlite": ""})
	ps.config["database"] = map[string]string{"sqlite": filepath.Join(ps.dir, "niomon.db")}
	good, _ := json.Marshal(ps.config)
	goodPath := writeFile(t, ps.dir, "good.json", string(good))
	tests := []struct {
		name string
		args []string
		env  []string
		want []string
	}{
		{"no SMTP host", []string{"serve", "--config", goodPath}, []string{"NIOMON_SMTP_HOST="}, []string{"smtp.host", "NIOMON_SMTP_HOST"}},
		{"a public URL over plain http to a public host", []string{"serve", "--config", goodPath}, []string{"NIOMON_PUBLIC_URL=http://wallet.example.com"}, []string{"public_url"}},
		{"a token key file that does not exist", []string{"serve", "--config", goodPath}, []string{"NIOMON_TOKEN_KEY_FILE=/nonexistent/token.key"}, []string{"token_key_file", "/nonexistent/token.key cannot be read (no such file or directory)", "32 random bytes in base64"}},
		{"an SMTP password file that does not exist", []string{"serve", "--config", goodPath}, []string{"NIOMON_SMTP_PASSWORD_FILE=/nonexistent/smtp.pass"}, []string{"smtp.password_file", "/nonexistent/smtp.pass cannot be read"}},
		{"tls none to a relay that is not on loopback", []string{"serve", "--config", goodPath}, []string{"NIOMON_SMTP_HOST=smtp.example.com"}, []string{"setting smtp.tls", "NIOMON_SMTP_TLS"}},
		{"an http public URL with TLS settings", []string{"serve", "--config", goodPath}, []string{"NIOMON_TLS_CERT_FILE=/etc/c.pem", "NIOMON_TLS_KEY_FILE=/etc/k.pem"}, []string{"public_url", "tls.cert_file is set", "write https://localhost:"}},
		{"a public URL with a path", []string{"serve", "--config", goodPath}, []string{"NIOMON_PUBLIC_URL=https://wallet.example.com/niomon"}, []string{"public_url", "write https://wallet.example.com"}},
		{"a duration in days", []string{"serve", "--config", writeFile(t, ps.dir, "days.json", strings.Replace(string(good), `"listen"`, `"sessions": {"max_age": "1d"}, "listen"`, 1))}, nil, []string{"sessions.max_age", `"1d" is "24h"`}},
		{"an SMTP port nothing listens on", []string{"serve", "--config", goodPath}, []string{"NIOMON_SMTP_PORT=1"}, []string{"127.0.0.1:1", "check smtp.host, smtp.port and smtp.tls"}},
		{"STARTTLS required of a relay without it", []string{"serve", "--config", goodPath}, []string{"NIOMON_SMTP_TLS=starttls"}, []string{"STARTTLS", "smtp.tls (starttls here)"}},
		{"a secretd key file that does not exist", []string{"serve", "--config", goodPath}, []string{"NIOMON_SECRETD_KEY_FILE=/nonexistent/secretd.key"}, []string{"secretd.key_file", "/nonexistent/secretd.key cannot be read", "keygen"}},
		{"an empty configuration", []string{"serve", "--config", writeFile(t, ps.dir, "empty.json", "{}")}, nil, []string{"public_url", "required"}},
		{"an unknown setting in the file", []string{"serve", "--config", writeFile(t, ps.dir, "typo.json", strings.Replace(string(good), `"listen"`, `"lisen"`, 1))}, nil, []string{"lisen"}},
		{"a database not migrated yet", []string{"serve", "--config", goodPath}, nil, []string{"niomon migrate"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runOnce(t, tc.env, tc.args...)
			if code != 1 {
				t.Fatalf("exit code %d, want 1; stderr:\n%s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Fatalf("stderr %q does not name %q", stderr, w)
				}
			}
		})
	}
}

// niomon serve, as production runs it: PostgreSQL (migrated by niomon
// migrate), an SMTP relay, a secretd cluster checked by attestation. A
// user signs up by email and signs.
func TestServe_SignsUpAndSignsOnPostgreSQL(t *testing.T) {
	ps := newProductionStack(t, map[string]string{"postgres": pgtest.NewSchema(t)})
	code, out, stderr := runOnce(t, nil, "migrate", "--config", ps.confPath)
	if code != 0 || !strings.Contains(out, "schema authdb: version 9 (was 0)") {
		t.Fatalf("migrate: exit %d, stdout %q, stderr %s", code, out, stderr)
	}
	if code, out, _ = runOnce(t, nil, "migrate", "--config", ps.confPath); code != 0 || !strings.Contains(out, "version 9 (was 9)") {
		t.Fatalf("a second migrate: exit %d, stdout %q; want nothing to do", code, out)
	}
	srv := startProc(t, nil, "serve", "--config", ps.confPath)
	srv.waitFor("listen:")
	d := &devStack{p: srv, url: ps.config["public_url"].(string)}

	key := filepath.Join(ps.dir, "device.json")
	pr, pw := io.Pipe()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		m, err := ps.mbox.Wait(ctx, "bob@example.com")
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		c := codeRe.FindStringSubmatch(m.Text)
		if c == nil {
			pw.CloseWithError(io.ErrUnexpectedEOF)
			return
		}
		pw.Write([]byte(c[1] + "\n"))
		pw.Close()
	}()
	out, errOut, err := d.cliResult(pr, key, "--json", "email", "login", "bob@example.com")
	if err != nil {
		t.Fatalf("email login: %v\n%s", err, errOut)
	}
	w := decodeJSON[wallet](t, out)
	eth := w.addr(t, "ethereum")
	s := decodeJSON[signed](t, d.cli(t, nil, key, "--json", "sign", "message", "from production"))
	sig, _ := hex.DecodeString(s.Signature)
	sig[64] -= 27
	pub, err := crypto.SigToPub(accounts.TextHash([]byte("from production")), sig)
	if err != nil || crypto.PubkeyToAddress(*pub).Hex() != eth.Address {
		t.Fatalf("the signature does not recover to %s: %v", eth.Address, err)
	}

	// secretd goes away: the server stays up, says it is not ready, and
	// comes back by itself when secretd is back at the same address.
	if status, h := readyz(t, d.url); status != 200 || h.Secretd != "ok" || h.Database != "ok" {
		t.Fatalf("/readyz with everything up: %d %+v", status, h)
	}
	sdAddr := ps.config["secretd"].(map[string]any)["addrs"].([]string)[0]
	ps.secretd.stop()
	// An answer is reused for a second.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		status, h := readyz(t, d.url)
		if status == 503 && h.Secretd == "unreachable" && h.Database == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz 10 s after secretd stopped: got %d %+v, want 503 and secretd unreachable", status, h)
		}
	}
	sd := startProc(t, nil, "secretd", "dev", "--listen", sdAddr, "--data", filepath.Join(ps.dir, "secretd"))
	sd.waitFor("cluster_identity:")
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, h := readyz(t, d.url)
		if status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz 20 s after secretd restarted: %d %+v", status, h)
		}
		time.Sleep(200 * time.Millisecond)
	}
	s = decodeJSON[signed](t, d.cli(t, nil, key, "--json", "sign", "message", "after secretd came back"))
	sig, _ = hex.DecodeString(s.Signature)
	sig[64] -= 27
	if pub, err = crypto.SigToPub(accounts.TextHash([]byte("after secretd came back")), sig); err != nil || crypto.PubkeyToAddress(*pub).Hex() != eth.Address {
		t.Fatalf("after secretd came back, the signature does not recover to %s: %v", eth.Address, err)
	}
	srv.stop()
	sd.stop()
}

// runOnceOK runs niomon with args and returns its stdout; it must succeed.
func runOnceOK(t *testing.T, args ...string) string {
	t.Helper()
	code, out, stderr := runOnce(t, nil, args...)
	if code != 0 {
		t.Fatalf("niomon %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	return out
}

// readyz asks the server's readiness endpoint.
func readyz(t *testing.T, base string) (int, server.Health) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatalf("/readyz: %v", err)
	}
	defer resp.Body.Close()
	var h server.Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatalf("/readyz: %v", err)
	}
	return resp.StatusCode, h
}

// niomon serve started before secretd: it serves, says it is unready, and
// becomes ready by itself when secretd comes (it used to exit with
// "connection lost").
func TestServe_StartsBeforeSecretdAndIsReadyWhenItComes(t *testing.T) {
	ps := newProductionStack(t, map[string]string{"sqlite": ""})
	ps.config["database"] = map[string]string{"sqlite": filepath.Join(ps.dir, "niomon.db")}
	b, _ := json.Marshal(ps.config)
	conf := writeFile(t, ps.dir, "early.json", string(b))
	if code, _, stderr := runOnce(t, nil, "migrate", "--config", conf); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	sdAddr := ps.config["secretd"].(map[string]any)["addrs"].([]string)[0]
	ps.secretd.stop()

	srv := startProc(t, nil, "serve", "--config", conf)
	srv.waitFor("listen:")
	base := ps.config["public_url"].(string)
	if status, h := readyz(t, base); status != 503 || h.Secretd != "unreachable" || h.Database != "ok" {
		t.Fatalf("/readyz before secretd: %d %+v, want 503 and secretd unreachable", status, h)
	}
	sd := startProc(t, nil, "secretd", "dev", "--listen", sdAddr, "--data", filepath.Join(ps.dir, "secretd"))
	sd.waitFor("cluster_identity:")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		status, h := readyz(t, base)
		if status == 200 && h.Secretd == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz 20 s after secretd came: %d %+v", status, h)
		}
	}
	// Once secretd accepted its key and identity, the server records them
	// as the deployment's.
	db, err := authdb.Open(context.Background(), sqldb.Config{SQLitePath: filepath.Join(ps.dir, "niomon.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	wantKey := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(runOnceOK(t, "secretd", "keygen", "--show", ps.config["secretd"].(map[string]any)["key_file"].(string))), "public_key:"))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		got, _, err := db.DeploymentSetting(context.Background(), authdb.DeploymentSecretdClientKey)
		if err == nil && got == wantKey {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deployment's client key 10 s after secretd came: %q (%v), want %q", got, err, wantKey)
		}
	}
	srv.stop()
	sd.stop()
}
