package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/base58"
	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/crypto"
)

type address struct {
	Chain, Path, Address string
	PublicKey            string `json:"public_key"`
}

type wallet struct {
	OID       string    `json:"oid"`
	Ready     bool      `json:"ready"`
	Addresses []address `json:"addresses"`
}

type signed struct {
	Scheme    string `json:"scheme"`
	Signature string `json:"signature"`
	PublicKey string `json:"public_key"`
	Address   string `json:"address"`
}

func (w *wallet) addr(t *testing.T, chain string) address {
	t.Helper()
	for _, a := range w.Addresses {
		if a.Chain == chain {
			return a
		}
	}
	t.Fatalf("no %s address in %+v", chain, w.Addresses)
	return address{}
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not the JSON expected: %v\n%s", err, s)
	}
	return v
}

// emailLogin runs "niomon client email login" and types the code from the
// dev mailbox at its prompt, as a person would.
func emailLogin(t *testing.T, d *devStack, key, addr string, nth int) string {
	t.Helper()
	out, _ := emailLoginResult(t, d, key, addr, nth)
	return out
}

// emailLoginResult is emailLogin, with what it said on stderr.
func emailLoginResult(t *testing.T, d *devStack, key, addr string, nth int) (string, string) {
	t.Helper()
	pr, pw := io.Pipe()
	var mailErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		code, err := d.mailCode(addr, nth)
		if err != nil {
			mailErr = err
			pw.CloseWithError(err)
			return
		}
		pw.Write([]byte(code + "\n"))
		pw.Close()
	}()
	out, errOut, err := d.cliResult(pr, key, "--json", "email", "login", addr)
	<-done
	if mailErr != nil || err != nil {
		t.Fatalf("email login: %v %v\n%s", mailErr, err, errOut)
	}
	return out, errOut
}

// The "done": a new user runs niomon dev, signs up with an email
// code from the dev mailbox, sees Ethereum, Bitcoin and Solana addresses,
// and signs a message that third-party libraries verify. Ctrl-C stops
// everything, and the next start finds the same user and wallet.
func TestDev_ANewUserSignsUpByEmailSeesAddressesAndSignsVerifiably(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	key := filepath.Join(t.TempDir(), "device.json")
	listen := freePort(t)
	d := startDev(t, data, listen, nil)

	w := decodeJSON[wallet](t, emailLogin(t, d, key, "alice@example.com", 1))
	if !w.Ready || len(w.Addresses) != 5 {
		t.Fatalf("after sign-up: got %+v, want a ready wallet with 5 addresses", w)
	}
	eth, sol := w.addr(t, "ethereum"), w.addr(t, "solana")
	if !strings.HasPrefix(w.addr(t, "bitcoin").Address, "bc1q") || !strings.HasPrefix(w.addr(t, "bitcoin-taproot").Address, "bc1p") {
		t.Fatalf("bitcoin addresses: %+v", w.Addresses)
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the device key file: %v %v, want mode 0600", fi, err)
	}
	// niomon dev prints the enclave's measurement; with it the client
	// takes the receipt key that checks the addresses from the enclave's
	// own attestation.
	enclave := strings.Fields(d.p.waitFor("enclave:"))
	if len(enclave) < 3 || len(enclave[2]) != 96 {
		t.Fatalf("the enclave line: %q, want dev, PCR0 and 48 bytes in hex", enclave)
	}
	attested := decodeJSON[wallet](t, d.cli(t, nil, key, "--allow-dev-enclave", "--pcr", "0="+enclave[2], "--json", "addresses"))
	if attested.addr(t, "ethereum").Address != eth.Address {
		t.Fatalf("attested addresses: %+v, want the same wallet", attested.Addresses)
	}

	verifyEth := func(msg string, args ...string) {
		t.Helper()
		var s signed
		if len(args) == 0 {
			s = decodeJSON[signed](t, d.cli(t, nil, key, "--json", "sign", "message", msg))
		} else {
			s = decodeJSON[signed](t, d.cli(t, strings.NewReader(msg), key, append([]string{"--json", "sign", "message"}, args...)...))
		}
		if s.Address != eth.Address {
			t.Fatalf("sign message says it signed as %q, want the wallet's %s", s.Address, eth.Address)
		}
		sig, err := hex.DecodeString(s.Signature)
		if err != nil || len(sig) != 65 {
			t.Fatalf("signature %q", s.Signature)
		}
		sig[64] -= 27
		pub, err := crypto.SigToPub(accounts.TextHash([]byte(msg)), sig)
		if err != nil {
			t.Fatal(err)
		}
		if got := crypto.PubkeyToAddress(*pub).Hex(); got != eth.Address {
			t.Fatalf("go-ethereum recovers %s, want the wallet's %s", got, eth.Address)
		}
	}
	verifyEth("hello from niomon dev")
	// A message longer than one shell argument can be (128 KiB) comes
	// from standard input.
	verifyEth(strings.Repeat("a long message. ", 200<<10/16), "--file", "-")
	if _, errOut, err := d.cliResult(nil, key, "sign", "digest", "not-hex"); err == nil || !strings.Contains(errOut, "the digest: want hex") {
		t.Fatalf("sign digest with a bad argument: %v %q, want an error naming the digest", err, errOut)
	}

	s := decodeJSON[signed](t, d.cli(t, nil, key, "--json", "sign", "ed25519", "a solana message"))
	if s.Address != sol.Address {
		t.Fatalf("sign ed25519 says it signed as %q, want the wallet's %s", s.Address, sol.Address)
	}
	sig, _ := hex.DecodeString(s.Signature)
	if !ed25519.Verify(base58.Decode(sol.Address), []byte("a solana message"), sig) {
		t.Fatal("the ed25519 signature does not verify under the solana address")
	}

	// The codes are secrets: not in the log, not in the database.
	code, err := d.mailCode("alice@example.com", 1)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(d.p.stderr.String(), code) || strings.Contains(d.p.stdout.String(), code) {
		t.Fatal("the sign-in code appears in niomon dev's output")
	}
	db, err := os.ReadFile(filepath.Join(data, "niomon.db"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(db), code) {
		t.Fatal("the sign-in code is in the database file")
	}

	// Ctrl-C stops everything: niomon, secretd and the enclave.
	pids := append([]int{d.p.cmd.Process.Pid}, children(d.p.cmd.Process.Pid)...)
	if len(pids) < 3 {
		t.Fatalf("niomon dev runs %d processes, want niomon, secretd and the enclave", len(pids))
	}
	d.p.stop()
	for _, pid := range pids[1:] {
		for i := 0; alive(pid) && i < 100; i++ {
			sleepMillis(50)
		}
		if alive(pid) {
			t.Fatalf("process %d still runs after Ctrl-C", pid)
		}
	}

	// The next start finds the same user and wallet.
	d = startDev(t, data, listen, nil)
	again := decodeJSON[wallet](t, d.cli(t, nil, key, "--json", "addresses"))
	if again.OID != w.OID || again.addr(t, "ethereum").Address != eth.Address {
		t.Fatalf("after a restart: got %+v, want the same wallet", again)
	}
	verifyEth("after a restart")
	// Signing in again by email on this machine reaches the same wallet.
	relog := decodeJSON[wallet](t, emailLogin(t, d, key, "alice@example.com", 1)) // a new mailbox
	if relog.OID != w.OID {
		t.Fatalf("signing in again: wallet %s, want %s", relog.OID, w.OID)
	}
	d.p.stop()
}

// The key file records the server it was made with: a later command
// without --server (and without NIOMON_SERVER) goes there, so a session
// made at the banner's http://localhost:PORT is not "ended" for a client
// whose default says 127.0.0.1. --server still wins.
func TestClient_WithoutServerUsesTheServerTheKeyFileRecords(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	key := filepath.Join(t.TempDir(), "device.json")
	d := startDev(t, data, freePort(t), nil)
	w := decodeJSON[wallet](t, emailLogin(t, d, key, "keyserver@example.com", 1))
	run := func(args ...string) (string, string, error) {
		cmd := command(append([]string{"client", "--key", key}, args...)...)
		cmd.Env = append(cmd.Env, "NIOMON_SERVER=")
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	for _, tc := range []struct {
		name   string
		args   []string
		wantOK bool
	}{
		{"no --server: the key file's", []string{"--json", "addresses"}, true},
		{"an explicit --server wins", []string{"--server", "http://127.0.0.1:1", "--json", "addresses"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := run(tc.args...)
			if (err == nil) != tc.wantOK {
				t.Fatalf("niomon client %v: %v\n%s", tc.args, err, errOut)
			}
			if tc.wantOK {
				got := decodeJSON[wallet](t, out)
				if got.addr(t, "ethereum").Address != w.addr(t, "ethereum").Address {
					t.Fatalf("addresses %+v, want the wallet's", got.Addresses)
				}
			}
		})
	}
}

// "email login EMAIL --code C" finishes the sign-in an earlier "email
// login EMAIL" started (its mail holds the code); it used to start a new
// flow, for which C was never right.
func TestClient_EmailLoginCodeFinishesTheSignInAnEarlierRunStarted(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	key := filepath.Join(t.TempDir(), "device.json")
	d := startDev(t, data, freePort(t), nil)
	// The first run sends the mail and finds no code on its input.
	_, errOut, err := d.cliResult(strings.NewReader(""), key, "email", "login", "later@example.com")
	if err == nil || !strings.Contains(errOut, "--code CODE") {
		t.Fatalf("email login with no code on its input: %v %q, want an error saying to run it with --code", err, errOut)
	}
	code, err := d.mailCode("later@example.com", 1)
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, err := d.cliResult(nil, key, "--json", "email", "login", "later@example.com", "--code", code)
	if err != nil {
		t.Fatalf("email login --code: %v\n%s", err, errOut)
	}
	w := decodeJSON[wallet](t, out)
	if !w.Ready || len(w.Addresses) != 5 || !strings.Contains(errOut, "Account created") {
		t.Fatalf("after email login --code: %+v, %q; want a ready wallet and the account's creation said", w, errOut)
	}
	// A second sign-in says no such thing.
	_, errOut = emailLoginResult(t, d, key, "later@example.com", 2)
	if strings.Contains(errOut, "Account created") {
		t.Fatalf("a second sign-in says %q", errOut)
	}
	// The flow is spent: the same code again, or a code with no mail
	// asked for, is refused with what to do.
	for _, addr := range []string{"later@example.com", "never@example.com"} {
		_, errOut, err := d.cliResult(nil, key, "email", "login", addr, "--code", code)
		if err == nil || !strings.Contains(errOut, "first") {
			t.Fatalf("email login %s --code with no pending mail: %v %q, want a refusal saying to ask for the mail first", addr, err, errOut)
		}
	}
}

// An outage or a server error while the client checks its saved session
// is reported as what it is, and the session is kept: it used to read as
// "the session has ended" and send the user to sign in again.
func TestClient_AnOutageOrAServerErrorKeepsTheSessionAndSaysWhatHappened(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	key := filepath.Join(t.TempDir(), "device.json")
	listen := freePort(t)
	d := startDev(t, data, listen, nil)
	emailLogin(t, d, key, "outage@example.com", 1)
	session, err := os.ReadFile(key + ".session")
	if err != nil {
		t.Fatal(err)
	}

	// A server that answers 500 at the session's server address.
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error":{"code":"internal","message":"the database is down"}}`))
	}))
	defer broken.Close()
	var sf map[string]any
	if err := json.Unmarshal(session, &sf); err != nil {
		t.Fatal(err)
	}
	sf["server"] = broken.URL
	brokenKey := filepath.Join(t.TempDir(), "broken.json")
	b, _ := json.Marshal(sf)
	if err := os.WriteFile(brokenKey+".session", b, 0o600); err != nil {
		t.Fatal(err)
	}

	d.p.stop()
	for _, tc := range []struct {
		name, server, key, want string
	}{
		{"the server is down", d.url, key, "could not check your session"},
		{"the server answers 500", broken.URL, brokenKey, "the database is down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := command("client", "--server", tc.server, "--key", tc.key, "--json", "addresses")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Run(); err == nil {
				t.Fatal("the command succeeded without a server")
			}
			if got := stderr.String(); !strings.Contains(got, tc.want) || !strings.Contains(got, "it is kept") || strings.Contains(got, "session has ended") {
				t.Fatalf("stderr %q, want %q and the session kept", got, tc.want)
			}
			if _, err := os.Stat(tc.key + ".session"); err != nil {
				t.Fatalf("the session file is gone: %v", err)
			}
		})
	}

	// The server is back: the same session works, with no new sign-in.
	d = startDev(t, data, listen, nil)
	if out := d.cli(t, nil, key, "--json", "addresses"); !strings.Contains(out, "ethereum") {
		t.Fatalf("after the outage: %s", out)
	}
}
