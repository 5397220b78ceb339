package main

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/niomon/niomon/internal/pgtest"
)

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestServe_TwoServersAndTwoEnclavesOnOnePostgreSQLAreOneDeployment runs
// the set-up docs/niomon-operations.md ("Several servers") describes: two
// secretd runners with enclaves of one cluster, each on a machine of its
// own (data directories of their own, the second joined the first), over
// one PostgreSQL store, and two niomon serve over one PostgreSQL database
// with one client key. A user signed up on one server uses the wallet on
// the other; with the first enclave gone both still serve; the API key's
// sessions on both servers end when the key is rotated out; and a third
// server with another client key (allowed by the runners, so it would
// start and find every wallet missing) is refused at start, naming the
// setting.
func TestServe_TwoServersAndTwoEnclavesOnOnePostgreSQLAreOneDeployment(t *testing.T) {
	store, database := pgtest.NewSchema(t), pgtest.NewSchema(t)
	dir, err := os.MkdirTemp("", "nio") // short: it holds Unix sockets
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	keygen := func(name string) (file, public string) {
		file = filepath.Join(dir, name)
		code, out, stderr := runOnce(t, nil, "secretd", "keygen", "--out", file)
		if code != 0 {
			t.Fatalf("keygen: %s", stderr)
		}
		return file, strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(out), "public_key:"))
	}
	clientKey, clientPub := keygen("client.key")
	otherKey, otherPub := keygen("other.key")

	type node struct{ enc, run *proc }
	startNode := func(name string, extra ...string) (node, string) {
		sock := "unix:" + filepath.Join(dir, name+".sock")
		enc := startProc(t, nil, "secretd", "enclave", "--dev", "--listen", sock)
		data := filepath.Join(dir, name)
		args := append([]string{"secretd", "runner", "--dev", "--listen", "127.0.0.1:0", "--enclave", sock, "--data", data,
			"--postgres", store, "--client-key", clientPub, "--client-key", otherPub}, extra...)
		run := startProc(t, nil, args...)
		return node{enc, run}, run.waitFor("listen:")
	}
	first, addr1 := startNode("one", "--dev-genesis")
	identity := first.run.waitFor("cluster_identity:")
	second, addr2 := startNode("two", "--join", addr1, "--join-identity", identity, "--join-key", clientKey)
	if got := second.run.waitFor("cluster_identity:"); got != identity {
		t.Fatalf("the replica serves %s, want %s", got, identity)
	}

	ss := newServeSupport(t, dir)
	config := func(name, key string, addrs ...string) (conf, url string) {
		listen := freePort(t)
		c := ss.config(listen, map[string]string{"postgres": database}, secretdSettings{addrs: addrs, identity: identity, keyFile: key})
		b, _ := json.Marshal(c)
		return writeFile(t, dir, name+".json", string(b)), c["public_url"].(string)
	}
	confA, urlA := config("a", clientKey, addr1, addr2)
	confB, urlB := config("b", clientKey, addr2, addr1)
	if code, _, stderr := runOnce(t, nil, "migrate", "--config", confA); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	// A first server given a wrong cluster identity is refused, names the
	// setting and the identity the runner announces, and records nothing
	// (the servers below start).
	wrong := strings.Replace(string(mustRead(t, confA)), identity, otherPub, 1)
	code, _, stderr := runOnce(t, nil, "serve", "--config", writeFile(t, dir, "wrong.json", wrong))
	for _, want := range []string{"setting secretd.identity (env NIOMON_SECRETD_IDENTITY)", "cluster identity most likely does not match", "announces the identity " + identity} {
		if code == 0 || !strings.Contains(stderr, want) {
			t.Fatalf("a server with a wrong identity: exit %d, stderr %q; want a refusal that says %q", code, stderr, want)
		}
	}
	for _, conf := range []string{confA, confB} {
		startProc(t, nil, "serve", "--config", conf).waitFor("listen:")
	}
	a, b := &devStack{url: urlA}, &devStack{url: urlB}

	// Signed up on A; signs on B, with the wallet made through A.
	key := filepath.Join(dir, "backend.json")
	a.cli(t, nil, key, "apikey", "new")
	w := decodeJSON[wallet](t, a.cli(t, nil, key, "signup", "--json"))
	eth := w.addr(t, "ethereum")
	signs := func(d *devStack, text string) {
		t.Helper()
		s := decodeJSON[signed](t, d.cli(t, nil, key, "--json", "sign", "message", text))
		sig, _ := hex.DecodeString(s.Signature)
		if len(sig) != 65 {
			t.Fatalf("signature %q", s.Signature)
		}
		sig[64] -= 27
		pub, err := crypto.SigToPub(accounts.TextHash([]byte(text)), sig)
		if err != nil || crypto.PubkeyToAddress(*pub).Hex() != eth.Address {
			t.Fatalf("%s: the signature does not recover to %s: %v", text, eth.Address, err)
		}
	}
	signs(b, "on the other server")
	var onB struct{ Token string }
	if raw, err := os.ReadFile(key + ".session"); err != nil || json.Unmarshal(raw, &onB) != nil || onB.Token == "" {
		t.Fatalf("the CLI's session on B: %v", err)
	}

	// The first enclave goes: both servers go on through the second.
	first.run.stop()
	first.enc.stop()
	signs(a, "with the first enclave gone")

	// The API key is rotated out (through A): its session on B ends.
	me := func(base, token string) int {
		req, _ := http.NewRequest("GET", base+"/v1/session", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := me(urlB, onB.Token); got != http.StatusOK {
		t.Fatalf("GET /v1/session on B before the rotation: %d, want 200", got)
	}
	a.cli(t, nil, key, "key", "rotate")
	if got := me(urlB, onB.Token); got != http.StatusUnauthorized {
		t.Fatalf("GET /v1/session on B with the rotated-out key's session: %d, want 401", got)
	}
	signs(b, "with the new key") // signs in again with the new key

	// A server with another client key is refused, naming the setting.
	confC, _ := config("c", otherKey, addr2)
	c := startProc(t, nil, "serve", "--config", confC)
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		t.Fatal("a server with another client key still runs 20 s later")
	}
	for _, want := range []string{"setting secretd.key_file (env NIOMON_SECRETD_KEY_FILE)", "secretd client key is " + otherPub, "has used " + clientPub} {
		if stderr := c.stderr.String(); c.err == nil || !strings.Contains(stderr, want) {
			t.Fatalf("a server with another client key: exit %v, stderr %q; want a refusal that says %q", c.err, stderr, want)
		}
	}
	second.run.stop()
	second.enc.stop()
}
