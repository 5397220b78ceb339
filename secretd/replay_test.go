package secretd_test

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/testcluster"
	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/secretd"
)

// stampedSign makes a sign request for oid stamped by k.
func stampedSign(t *testing.T, c *testcluster.Cluster, k *secretd.P256Key, oid string, p secretd.SignParams, nonce string) []any {
	t.Helper()
	id, _ := wire.ParsePublicKey(c.Identity)
	req, err := policy.Encode(policy.MethodSign, oid, p, id.Bytes(), time.Now().UnixMilli(), []byte(nonce))
	if err != nil {
		t.Fatal(err)
	}
	st, err := k.Stamp(req)
	if err != nil {
		t.Fatal(err)
	}
	return []any{req, st}
}

// A request that fails before it has any effect does not spend its
// nonce: sent again it fails for its own reason, not as a replay. One
// that succeeds does.
func TestARequestSpendsItsNonceOnlyWhenItSucceeds(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	cl := c.Dial(t, secretd.Options{})
	k := newAPIKey(t, allRights...)
	if _, err := cl.CreateWallet(ctxT(t), "ivy", secretd.CreateOptions{}, k); err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("x"))
	bad := stampedSign(t, c, k, "ivy", secretd.SignParams{Scheme: secretd.SchemeEd25519, Path: "m/44'/501'/0'/0", Message: []byte("x")}, "bad request nonce")
	good := stampedSign(t, c, k, "ivy", secretd.SignParams{Scheme: secretd.SchemeSecp256k1, Path: "m/44'/60'/0'/0/0", Digest: digest[:]}, "good request nonc")
	steps := []struct {
		name   string
		params []any
		want   error
	}{
		{"a request that fails", bad, secretd.ErrInvalidParams},
		{"the same request again", bad, secretd.ErrInvalidParams},
		{"a request that succeeds", good, nil},
		{"the same request again", good, secretd.ErrUnauthorized},
	}
	for _, s := range steps {
		if err := cl.Call(ctxT(t), "hdwallet_sign", s.params, nil); !errors.Is(err, s.want) {
			t.Fatalf("%s: got %v, want %v", s.name, err, s.want)
		}
	}
}

// One wallet holds at most 1/64 of the replay cache: stamping as fast as
// it can, it is refused once it holds its share, and another wallet is
// still served.
func TestOneWalletCannotFillTheReplayCacheForOthers(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{ReplayCacheSize: 64 * 3})
	cl := c.Dial(t, secretd.Options{})
	busy, quiet := newAPIKey(t, allRights...), newAPIKey(t, allRights...)
	for oid, k := range map[string]*secretd.P256Key{"busy": busy, "quiet": quiet} {
		if _, err := cl.CreateWallet(ctxT(t), oid, secretd.CreateOptions{}, k); err != nil {
			t.Fatal(err)
		}
	}
	digest := sha256.Sum256([]byte("x"))
	p := secretd.SignParams{Scheme: secretd.SchemeSecp256k1, Path: "m/44'/60'/0'/0/0", Digest: digest[:]}
	for i := range 3 {
		if _, err := cl.Sign(ctxT(t), "busy", p, busy); err != nil {
			t.Fatalf("busy wallet, request %d of its share of 3: %v", i+1, err)
		}
	}
	_, err := cl.Sign(ctxT(t), "busy", p, busy)
	if !errors.Is(err, secretd.ErrUnavailable) || !strings.Contains(err.Error(), "for this wallet") {
		t.Fatalf("busy wallet beyond its share: got %v, want a refusal for this wallet", err)
	}
	if _, err := cl.Sign(ctxT(t), "quiet", p, quiet); err != nil {
		t.Fatalf("another wallet: %v", err)
	}
}
