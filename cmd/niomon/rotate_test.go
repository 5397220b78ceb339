package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
)

// key rotate replaces this machine's key in the wallet's policy: the new
// key signs for the same wallet, the old one no longer does, and a device
// session key gets a new full lifetime.
func TestClient_KeyRotateReplacesTheKeyInTheWalletPolicy(t *testing.T) {
	dir := t.TempDir()
	d := startDev(t, filepath.Join(dir, "data"), freePort(t), nil)
	tests := []struct {
		name     string
		setUp    func(key string) wallet
		wantKind string
	}{
		{"a device session key from an email sign-up", func(key string) wallet {
			return decodeJSON[wallet](t, emailLogin(t, d, key, "rotate@example.com", 1))
		}, "session_key"},
		{"an API key", func(key string) wallet {
			d.cli(t, nil, key, "apikey", "new")
			return decodeJSON[wallet](t, d.cli(t, nil, key, "signup", "--json"))
		}, "api_key"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := filepath.Join(dir, tc.wantKind+".json")
			w := tc.setUp(key)
			eth := w.addr(t, "ethereum").Address
			before := readKeyFile(t, key)
			// A copy of the old key, signed in, as a thief who took it
			// before the rotation would hold it.
			stolen := filepath.Join(dir, "stolen"+string(rune('0'+i))+".json")
			for _, ext := range []string{"", ".session", ".cluster"} {
				b, err := os.ReadFile(key + ext)
				if err != nil {
					t.Fatal(err)
				}
				os.WriteFile(stolen+ext, b, 0o600)
			}
			time.Sleep(1100 * time.Millisecond) // a later expiry, in whole seconds
			out := decodeJSON[map[string]any](t, d.cli(t, nil, key, "--json", "key", "rotate"))
			after := readKeyFile(t, key)
			if after.Kind != tc.wantKind || string(after.PKCS8) == string(before.PKCS8) {
				t.Fatalf("the key file after rotating: kind %s, same key %t; want a new %s", after.Kind, string(after.PKCS8) == string(before.PKCS8), tc.wantKind)
			}
			if tc.wantKind == "session_key" && after.ExpiresAt <= before.ExpiresAt {
				t.Fatalf("the new session key expires at %d, the old at %d: want later", after.ExpiresAt, before.ExpiresAt)
			}
			if _, err := os.Stat(key + ".new"); !os.IsNotExist(err) {
				t.Fatalf("%s.new is left behind: %v", key, err)
			}
			if out["key_file"] != key {
				t.Fatalf("rotate answered %v", out)
			}
			s := decodeJSON[signed](t, d.cli(t, nil, key, "--json", "sign", "message", "after rotation"))
			if got := recoverEth(t, accounts.TextHash([]byte("after rotation")), s.Signature); got != eth {
				t.Fatalf("the new key signs for %s, want the wallet's %s", got, eth)
			}
			// The thief's copy: a device key's session stays (it is the
			// user's session; the enclave refuses the old key's stamp); an
			// API key's session ended with the key, and it signs in no more.
			want := map[string]string{"session_key": "stamp_refused", "api_key": "unauthorized: the API key"}[tc.wantKind]
			_, errOut, err := d.cliResult(nil, stolen, "--json", "sign", "message", "with the old key")
			if err == nil || !strings.Contains(errOut, want) {
				t.Fatalf("the old key after rotating: err %v, stderr %q; want %q", err, errOut, want)
			}
			if tc.wantKind == "api_key" {
				os.Remove(stolen + ".session")
				if _, errOut, err := d.cliResult(nil, stolen, "session"); err == nil || !strings.Contains(errOut, "unauthorized") {
					t.Fatalf("signing in with the old API key: err %v, stderr %q; want unauthorized", err, errOut)
				}
			}
		})
	}
}

func readKeyFile(t *testing.T, path string) (kf struct {
	Kind      string `json:"kind"`
	ExpiresAt int64  `json:"expires_at"`
	PKCS8     []byte `json:"pkcs8"`
	Wallet    string `json:"wallet"`
}) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &kf) != nil {
		t.Fatalf("key file %s: %v", path, err)
	}
	return kf
}

// A rotation whose answer is lost is finished or undone by what the
// wallet then lists: the key is never lost.
func TestClient_KeyRotateSurvivesALostAnswer(t *testing.T) {
	dir := t.TempDir()
	d := startDev(t, filepath.Join(dir, "data"), freePort(t), nil)
	upstream, _ := url.Parse(d.url)
	rp := httputil.NewSingleHostReverseProxy(upstream)
	proxy := func(forward bool) string {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == "POST" && r.URL.Path == "/v1/wallet/policy" {
				if forward { // applied, but the answer is lost
					rp.ServeHTTP(httptest.NewRecorder(), r)
				}
				http.Error(w, "bad gateway", http.StatusBadGateway)
				return
			}
			rp.ServeHTTP(w, r)
		}))
		t.Cleanup(ts.Close)
		return ts.URL
	}
	tests := []struct {
		name        string
		forward     bool
		wantErr     bool
		wantRotated bool
	}{
		{"the change was applied: the rotation is finished", true, false, true},
		{"the change never arrived: the new key is dropped, the old one kept", false, true, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := filepath.Join(dir, fmt.Sprintf("k%d.json", i))
			d.cli(t, nil, key, "apikey", "new")
			w := decodeJSON[wallet](t, d.cli(t, nil, key, "signup", "--json"))
			before := readKeyFile(t, key)
			via := &devStack{url: proxy(tc.forward)}
			// The session is kept per server URL: sign in through the proxy.
			_, errOut, err := via.cliResult(nil, key, "key", "rotate")
			if (err != nil) != tc.wantErr {
				t.Fatalf("key rotate: %v, stderr %q; want an error: %t", err, errOut, tc.wantErr)
			}
			after := readKeyFile(t, key)
			if rotated := string(after.PKCS8) != string(before.PKCS8); rotated != tc.wantRotated {
				t.Fatalf("the key file was replaced: %t, want %t", rotated, tc.wantRotated)
			}
			if _, err := os.Stat(key + ".new"); !os.IsNotExist(err) {
				t.Fatalf("%s.new is left behind: %v", key, err)
			}
			// Whatever happened, the key at --key signs for the wallet.
			s := decodeJSON[signed](t, d.cli(t, nil, key, "--json", "sign", "message", "still mine"))
			if got := recoverEth(t, accounts.TextHash([]byte("still mine")), s.Signature); got != w.addr(t, "ethereum").Address {
				t.Fatalf("the key signs for %s, want the wallet's %s", got, w.addr(t, "ethereum").Address)
			}
		})
	}
}
