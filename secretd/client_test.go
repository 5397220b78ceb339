package secretd_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/cosmos/go-bip39"
	"github.com/niomon/niomon/internal/attest"
	"github.com/niomon/niomon/internal/attest/devattest"
	"github.com/niomon/niomon/internal/testcluster"
	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/internal/wireclient"
	"github.com/niomon/niomon/secretd"
	"golang.org/x/crypto/sha3"
)

// abandonMnemonic is the BIP39 all-zero-entropy phrase; its first Ethereum
// account (m/44'/60'/0'/0/0) is 0x9858EfFD232B4033E47d90003D41EC34EcaEda94,
// as every wallet derives it.
const abandonMnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// referenceXpub derives path from mnemonic with btcutil's hdkeychain, an
// implementation independent of ours.
func referenceXpub(t *testing.T, mnemonic, path string) string {
	t.Helper()
	seed := bip39.NewSeed(mnemonic, "")
	k, err := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range strings.Split(path, "/")[1:] {
		var i uint32
		hardened := strings.HasSuffix(part, "'")
		fmt.Sscanf(strings.TrimSuffix(part, "'"), "%d", &i)
		if hardened {
			i += hdkeychain.HardenedKeyStart
		}
		if k, err = k.Derive(i); err != nil {
			t.Fatal(err)
		}
	}
	n, err := k.Neuter()
	if err != nil {
		t.Fatal(err)
	}
	return n.String()
}

func ethAddress(t *testing.T, pubHex string) string {
	t.Helper()
	pub, err := hex.DecodeString(pubHex)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := btcec.ParsePubKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	h := sha3.NewLegacyKeccak256()
	h.Write(ec.SerializeUncompressed()[1:])
	return hex.EncodeToString(h.Sum(nil)[12:])
}

func TestImportedWalletMatchesEveryWallet(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{AllowPlaintextImport: true})
	cl := c.Dial(t, secretd.Options{})
	ctx := ctxT(t)
	if _, err := cl.ImportWalletPlaintext(ctx, "abandon", abandonMnemonic, nil, ""); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ path string }{
		{"m/44'/60'/0'/0/0"},
		{"m/44'/60'/0'/0/1"},
		{"m/84'/0'/0'/0/0"},
		{"m/44'/60'/0'"},
		{"m"},
		{"m/0/1/2'/3"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			got, err := cl.ExtendedPublicKey(ctx, "abandon", tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if want := referenceXpub(t, abandonMnemonic, tc.path); got.ExtendedPublicKey != want {
				t.Fatalf("xpub: got %s, want %s", got.ExtendedPublicKey, want)
			}
		})
	}
	got, err := cl.ExtendedPublicKey(ctx, "abandon", "m/44'/60'/0'/0/0")
	if err != nil {
		t.Fatal(err)
	}
	if addr := ethAddress(t, got.PublicKey); addr != strings.ToLower("9858EfFD232B4033E47d90003D41EC34EcaEda94") {
		t.Fatalf("first Ethereum address: got 0x%s, want 0x9858effd232b4033e47d90003d41ec34ecaeda94", addr)
	}
}

func TestGeneratedWalletServesConsistentXpubs(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	cl := c.Dial(t, secretd.Options{})
	ctx := ctxT(t)
	for _, words := range []int{12, 15, 18, 21, 24} {
		t.Run(fmt.Sprintf("%d words", words), func(t *testing.T) {
			oid := fmt.Sprintf("user-%d", words)
			got, err := cl.GenerateWallet(ctx, oid, words, map[string]string{"tier": "gold"}, "policy-1")
			if err != nil || got != oid {
				t.Fatalf("generate: got %q, %v; want %q", got, err, oid)
			}
			account, err := cl.ExtendedPublicKey(ctx, oid, "m/44'/60'/0'/0")
			if err != nil {
				t.Fatal(err)
			}
			leaf, err := cl.ExtendedPublicKey(ctx, oid, "m/44'/60'/0'/0/7")
			if err != nil {
				t.Fatal(err)
			}
			// Public derivation from the account xpub (hdkeychain) must
			// reach the same leaf the enclave derived privately.
			k, err := hdkeychain.NewKeyFromString(account.ExtendedPublicKey)
			if err != nil {
				t.Fatalf("account xpub does not parse: %v", err)
			}
			child, err := k.Derive(7)
			if err != nil {
				t.Fatal(err)
			}
			if child.String() != leaf.ExtendedPublicKey {
				t.Fatalf("leaf: got %s, want %s", leaf.ExtendedPublicKey, child.String())
			}
			pub, _ := child.ECPubKey()
			if hex.EncodeToString(pub.SerializeCompressed()) != leaf.PublicKey {
				t.Fatalf("public key: got %s, want %x", leaf.PublicKey, pub.SerializeCompressed())
			}
		})
	}
}

func TestGenerateNeverOverwrites(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	cl := c.Dial(t, secretd.Options{})
	ctx := ctxT(t)
	if _, err := cl.GenerateWallet(ctx, "alice", 24, nil, ""); err != nil {
		t.Fatal(err)
	}
	before, err := cl.ExtendedPublicKey(ctx, "alice", "m/44'/60'/0'/0/0")
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.GenerateWallet(ctx, "alice", 12, nil, "")
	if !errors.Is(err, secretd.ErrExists) {
		t.Fatalf("second generate: got %v, want ErrExists", err)
	}
	after, err := cl.ExtendedPublicKey(ctx, "alice", "m/44'/60'/0'/0/0")
	if err != nil || after != before {
		t.Fatalf("after a refused generate: got %+v, %v; want %+v", after, err, before)
	}
}

func TestConcurrentGeneratesOfOneOIDHaveOneWinner(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	cl := c.Dial(t, secretd.Options{PoolSize: 8})
	ctx := ctxT(t)
	var wg sync.WaitGroup
	results := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := cl.GenerateWallet(ctx, "race", 24, nil, "")
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	var ok, exists int
	for err := range results {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, secretd.ErrExists):
			exists++
		default:
			t.Fatalf("unexpected error %v", err)
		}
	}
	if ok != 1 || exists != 15 {
		t.Fatalf("got %d successes and %d exists, want 1 and 15", ok, exists)
	}
}

func TestBadRequestsGetErrorsAndTheSessionStaysUp(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	cl := c.Dial(t, secretd.Options{PoolSize: 1})
	ctx := ctxT(t)
	if _, err := cl.GenerateWallet(ctx, "w", 12, nil, ""); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 201)
	tests := []struct {
		name   string
		method string
		params []any
		want   error
	}{
		{"unknown method", "hdwallet_frobnicate", []any{}, secretd.ErrUnknownMethod},
		{"plaintext import is off outside its switch", "hdwallet_import_with_policy", []any{"x", abandonMnemonic, [][]string{}, ""}, secretd.ErrUnknownMethod},
		{"too few params", "hdwallet_get_extended_public_key", []any{"w"}, secretd.ErrInvalidParams},
		{"too many params", "hdwallet_get_extended_public_key", []any{"w", "m", "x"}, secretd.ErrInvalidParams},
		{"a number for the oid", "hdwallet_get_extended_public_key", []any{7, "m"}, secretd.ErrInvalidParams},
		{"a path with letters", "hdwallet_get_extended_public_key", []any{"w", "m/x"}, secretd.ErrInvalidParams},
		{"an index past 2^31", "hdwallet_get_extended_public_key", []any{"w", "m/2147483648"}, secretd.ErrInvalidParams},
		{"an empty oid", "hdwallet_get_extended_public_key", []any{"", "m"}, secretd.ErrInvalidParams},
		{"an oid too long", "hdwallet_generate_with_policy", []any{long, 12, [][]string{}, ""}, secretd.ErrInvalidParams},
		{"a control character in the oid", "hdwallet_generate_with_policy", []any{"a\nb", 12, [][]string{}, ""}, secretd.ErrInvalidParams},
		{"13 words", "hdwallet_generate_with_policy", []any{"n13", 13, [][]string{}, ""}, secretd.ErrInvalidParams},
		{"a negative word count", "hdwallet_generate_with_policy", []any{"neg", -12, [][]string{}, ""}, secretd.ErrInvalidParams},
		{"an attribute that is not a pair", "hdwallet_generate_with_policy", []any{"a1", 12, [][]string{{"k"}}, ""}, secretd.ErrInvalidParams},
		{"duplicate attribute keys", "hdwallet_generate_with_policy", []any{"a2", 12, [][]string{{"k", "1"}, {"k", "2"}}, ""}, secretd.ErrInvalidParams},
		{"a missing wallet", "hdwallet_get_extended_public_key", []any{"nobody", "m/0"}, secretd.ErrNotFound},
		{"a nonce too long", "system_attest", []any{make([]byte, 513)}, secretd.ErrInvalidParams},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := cl.Call(ctx, tc.method, tc.params, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			var se *secretd.Error
			if !errors.As(err, &se) {
				t.Fatalf("got %T, want *secretd.Error", err)
			}
			if err := cl.Ping(ctx); err != nil {
				t.Fatalf("session after the error: %v", err)
			}
		})
	}
	// Nothing the refused requests named was created.
	for _, oid := range []string{"n13", "neg", "a1", "a2", "x"} {
		if _, err := cl.ExtendedPublicKey(ctx, oid, "m"); !errors.Is(err, secretd.ErrNotFound) {
			t.Errorf("wallet %q after a refused request: got %v, want ErrNotFound", oid, err)
		}
	}
}

func TestHandshakeRefusals(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	stranger, _ := secretd.GenerateKey()
	other, _ := wire.GeneratePrivateKey()
	tests := []struct {
		name     string
		opts     secretd.Options
		wantText string
		wantFix  string // what the error tells the operator to do
		wantID   string // the identity it says the runner announces
	}{
		{"a key not on the allow-list", secretd.Options{Key: stranger}, wire.RefuseAuth, "allow-list", ""},
		{"the wrong cluster identity", secretd.Options{Identity: other.Public().String()}, wire.RefuseHandshake, "cluster identity most likely does not match", c.Identity},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			if o.Identity == "" {
				o.Identity = c.Identity
			}
			if o.Key == (secretd.Key{}) {
				o.Key = c.Key
			}
			_, err := secretd.Dial(ctxT(t), c.Addr, o)
			var r *secretd.RefusedError
			if !errors.As(err, &r) || r.Reason != tc.wantText || !strings.Contains(err.Error(), tc.wantFix) || r.Announced != tc.wantID ||
				(tc.wantID != "" && !strings.Contains(err.Error(), "announces the identity "+tc.wantID)) {
				t.Fatalf("got %v (announced %q), want a refusal %q saying %q and announcing %q", err, r.Announced, tc.wantText, tc.wantFix, tc.wantID)
			}
		})
	}
}

func TestGarbageAfterTheHandshakeClosesOnlyThatSession(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	good := c.Dial(t, secretd.Options{PoolSize: 1})
	ctx := ctxT(t)

	nc := c.DialRaw(t)
	id, _ := wire.ParsePublicKey(c.Identity)
	// A raw session with the cluster's own key, then bytes that are not
	// CBOR: the enclave must close this session and keep serving others.
	k := rawKey(t, c)
	s, err := wireclient.Client(nc, id, k, wire.ClientHello{Timestamp: uint64(time.Now().UnixNano()), AuthMethod: wire.AuthStaticKey})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte{0xff, 0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := s.ReadChunk(); err == nil {
		t.Fatal("garbage got an answer; want the session closed")
	}
	if err := good.Ping(ctx); err != nil {
		t.Fatalf("another session after the garbage: %v", err)
	}
}

func rawKey(t *testing.T, c *testcluster.Cluster) wire.PrivateKey {
	t.Helper()
	b := c.Key.MarshalKeyFile()
	lines := strings.Split(string(b), "\n")
	k, err := wire.ParsePrivateKey(lines[1])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCallsHonourTheirContext(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	cl := c.Dial(t, secretd.Options{PoolSize: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := cl.Ping(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("ping with a cancelled context: got %v, want context.Canceled", err)
	}
	if err := cl.Ping(ctxT(t)); err != nil {
		t.Fatalf("the next ping: %v", err)
	}
}

func TestConcurrentCallsOverAPool(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	cl := c.Dial(t, secretd.Options{PoolSize: 4})
	ctx := ctxT(t)
	if _, err := cl.GenerateWallet(ctx, "pool", 24, nil, ""); err != nil {
		t.Fatal(err)
	}
	want, err := cl.ExtendedPublicKey(ctx, "pool", "m/44'/60'/0'/0/3")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				got, err := cl.ExtendedPublicKey(ctx, "pool", "m/44'/60'/0'/0/3")
				if err != nil || got != want {
					errs <- fmt.Errorf("got %+v, %v; want %+v", got, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestClosedClientFails(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	cl := c.Dial(t, secretd.Options{})
	cl.Close()
	if err := cl.Ping(ctxT(t)); !errors.Is(err, secretd.ErrClosed) {
		t.Fatalf("got %v, want ErrClosed", err)
	}
}

func TestAttestationPolicyIsCheckedBeforeUse(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	tests := []struct {
		name    string
		policy  *secretd.AttestationPolicy
		wantErr bool
	}{
		{"a dev enclave passes when dev is allowed", &secretd.AttestationPolicy{AllowDev: true}, false},
		{"a dev enclave fails against the Nitro root", &secretd.AttestationPolicy{}, true},
		{"a wrong PCR0 fails", &secretd.AttestationPolicy{AllowDev: true, PCRs: map[int][]byte{0: make([]byte, 48)}}, true},
		{"a clock past the leaf certificate fails", &secretd.AttestationPolicy{AllowDev: true, Now: func() time.Time { return time.Now().Add(4 * time.Hour) }}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cl, err := secretd.Dial(ctxT(t), c.Addr, secretd.Options{Identity: c.Identity, Key: c.Key, Attestation: tc.policy})
			if tc.wantErr {
				if !errors.Is(err, secretd.ErrAttestation) {
					t.Fatalf("got %v, want ErrAttestation", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if err := cl.Ping(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAttestationDocumentNamesTheClusterIdentity(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	cl := c.Dial(t, secretd.Options{})
	doc, err := cl.Attest(ctxT(t), []byte("nonce-1"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := attest.Verify(doc, attest.Policy{Roots: devattest.Roots(), Now: time.Now, Nonce: []byte("nonce-1")})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := wire.ParsePublicKey(c.Identity)
	if !bytes.Equal(d.PublicKey, id.Bytes()) {
		t.Fatalf("document public key: got %x, want the cluster identity %x", d.PublicKey, id.Bytes())
	}
}

func TestDialCluster_StartUnreachableWaitsForTheClusterButNotForAWrongKey(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	stranger, _ := secretd.GenerateKey()
	tests := []struct {
		name    string
		addrs   []string
		key     secretd.Key
		lazy    bool
		wantErr error // from DialCluster
		pingOK  bool
	}{
		{"nothing answers, without the option", []string{dead}, c.Key, false, secretd.ErrConnection, false},
		{"nothing answers, with it: a client whose calls fail", []string{dead}, c.Key, true, nil, false},
		{"a dead and a live address, with it", []string{dead, c.Addr}, c.Key, true, nil, true},
		{"a key not on the allow-list, with it: refused at once", []string{c.Addr}, stranger, true, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cl, err := secretd.DialCluster(ctxT(t), tc.addrs, secretd.Options{Identity: c.Identity, Key: tc.key, StartUnreachable: tc.lazy, DialTimeout: 2 * time.Second})
			if tc.key != c.Key {
				var r *secretd.RefusedError
				if !errors.As(err, &r) {
					t.Fatalf("got %v, want the refusal", err)
				}
				return
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if err := cl.Ping(ctxT(t)); (err == nil) != tc.pingOK || (err != nil && !errors.Is(err, secretd.ErrConnection)) {
				t.Fatalf("Ping: %v, want ok %v (or ErrConnection)", err, tc.pingOK)
			}
		})
	}
}
