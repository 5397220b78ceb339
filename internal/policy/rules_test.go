package policy_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/policy/policytest"
)

func TestCredentialValidation(t *testing.T) {
	api := policytest.NewP256Key(t, policy.KindAPIKey, 0, policy.RightSign)
	pk := policytest.NewAuthenticator(t, policy.AlgES256, rpID, []string{origin}, policy.RightSign)
	tests := []struct {
		name   string
		mutate func(c *policy.Credential)
		base   policy.Credential
	}{
		{"an unknown kind", func(c *policy.Credential) { c.Kind = "password" }, api.Cred},
		{"an unknown right", func(c *policy.Credential) { c.Rights = []string{"root"} }, api.Cred},
		{"a right listed twice", func(c *policy.Credential) { c.Rights = []string{"sign", "sign"} }, api.Cred},
		{"no rights", func(c *policy.Credential) { c.Rights = nil }, api.Cred},
		{"an api key id that is not its key hash", func(c *policy.Credential) { c.ID = []byte("mine") }, api.Cred},
		{"an api key with the EdDSA alg", func(c *policy.Credential) { c.Alg = policy.AlgEdDSA }, api.Cred},
		{"a session key without expiry", func(c *policy.Credential) { c.Kind = policy.KindSessionKey }, api.Cred},
		{"a public key that is not SPKI", func(c *policy.Credential) { c.PublicKey = []byte{1, 2, 3} }, pk.Cred},
		{"a P-256 key declared RS256", func(c *policy.Credential) { c.Alg = policy.AlgRS256 }, pk.Cred},
		{"a passkey without rp_id", func(c *policy.Credential) { c.RPID = "" }, pk.Cred},
		{"a passkey without origins", func(c *policy.Credential) { c.Origins = nil }, pk.Cred},
		{"a passkey that expires", func(c *policy.Credential) { c.ExpiresAt = 5 }, pk.Cred},
		{"an empty id", func(c *policy.Credential) { c.ID = nil }, pk.Cred},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.base
			c.Rights = append([]string(nil), c.Rights...)
			tc.mutate(&c)
			if err := c.Validate(); !errors.Is(err, policy.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
}

func TestPolicyChangesKeepAWayToManageTheWallet(t *testing.T) {
	admin := policytest.NewP256Key(t, policy.KindAPIKey, 0, policy.RightSign, policy.RightPolicy)
	signer := policytest.NewP256Key(t, policy.KindAPIKey, 0, policy.RightSign)
	sess := policytest.NewP256Key(t, policy.KindSessionKey, now.Add(time.Hour).Unix(), policy.RightSign, policy.RightPolicy)
	p := &policy.Policy{Credentials: []policy.Credential{admin.Cred}}
	tests := []struct {
		name    string
		change  policy.Change
		wantErr bool
		wantN   int
	}{
		{"add a signer", policy.Change{Add: []policy.Credential{signer.Cred}}, false, 2},
		{"add the same credential twice", policy.Change{Add: []policy.Credential{admin.Cred}}, true, 0},
		{"remove the last manager", policy.Change{Remove: [][]byte{admin.Cred.ID}}, true, 0},
		{"swap the manager for a signer", policy.Change{Add: []policy.Credential{signer.Cred}, Remove: [][]byte{admin.Cred.ID}}, true, 0},
		{"hand management to a session key that expires later", policy.Change{Add: []policy.Credential{sess.Cred}, Remove: [][]byte{admin.Cred.ID}}, false, 1},
		{"remove what is not there", policy.Change{Remove: [][]byte{signer.Cred.ID}}, true, 0},
		{"an empty change", policy.Change{}, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.Apply(tc.change, now.Unix())
			if (err != nil) != tc.wantErr {
				t.Fatalf("got %v, want error=%v", err, tc.wantErr)
			}
			if err == nil && len(got.Credentials) != tc.wantN {
				t.Fatalf("got %d credentials, want %d", len(got.Credentials), tc.wantN)
			}
			if len(p.Credentials) != 1 {
				t.Fatal("Apply changed the original policy")
			}
		})
	}
}

func TestDecodeAcceptsOnlyTheCanonicalForm(t *testing.T) {
	good, err := policy.Encode(policy.MethodSign, "alice", policy.SignParams{Scheme: "x", Path: "m"}, cluster, 1, bytes.Repeat([]byte{1}, 16))
	if err != nil {
		t.Fatal(err)
	}
	var p policy.SignParams
	if _, err := policy.Decode(good, &p); err != nil {
		t.Fatalf("canonical request: %v", err)
	}
	// The same fields with the map keys in another order.
	var m map[string]cbor.RawMessage
	if err := cbor.Unmarshal(good, &m); err != nil {
		t.Fatal(err)
	}
	reordered, _ := cbor.EncOptions{Sort: cbor.SortNone}.EncMode()
	ordered := []string{"method", "oid", "params", "cluster", "ts", "nonce"}
	var buf bytes.Buffer
	buf.WriteByte(0xa6)
	for _, k := range ordered {
		kb, _ := reordered.Marshal(k)
		buf.Write(kb)
		buf.Write(m[k])
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"reordered keys", buf.Bytes()},
		{"a trailing byte", append(bytes.Clone(good), 0)},
		{"an unknown field", func() []byte {
			m2 := map[string]any{"x": 1}
			for k, v := range m {
				m2[k] = v
			}
			b, _ := cbor.CoreDetEncOptions().EncMode()
			out, _ := b.Marshal(m2)
			return out
		}()},
		{"a short nonce", func() []byte {
			b, _ := policy.Encode(policy.MethodSign, "alice", policy.SignParams{}, cluster, 1, []byte{1})
			return b
		}()},
		{"not CBOR", []byte("hello")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := policy.Decode(tc.b, &p); !errors.Is(err, policy.ErrRequest) {
				t.Fatalf("got %v, want ErrRequest", err)
			}
		})
	}
}

func FuzzDecodeRequest(f *testing.F) {
	good, _ := policy.Encode(policy.MethodSign, "alice", policy.SignParams{Scheme: "x", Path: "m", Digest: make([]byte, 32)}, cluster, 1, bytes.Repeat([]byte{1}, 16))
	f.Add(good)
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p policy.SignParams
		r, err := policy.Decode(b, &p)
		if err != nil {
			return
		}
		again, err := policy.Encode(r.Method, r.OID, p, r.Cluster, r.Time, r.Nonce)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("an accepted request does not re-encode to itself (%v)", err)
		}
	})
}

func FuzzCheckStamp(f *testing.F) {
	k := policytest.NewP256Key(f, policy.KindAPIKey, 0, policy.RightSign)
	a := policytest.NewAuthenticator(f, policy.AlgES256, rpID, []string{origin}, policy.RightSign)
	p := &policy.Policy{Credentials: []policy.Credential{k.Cred, a.Cred}}
	b, _ := policy.Encode(policy.MethodSign, "alice", policy.SignParams{Scheme: "x"}, cluster, now.UnixMilli(), bytes.Repeat([]byte{1}, 16))
	s := a.Stamp(f, b)
	f.Add(s.CredentialID, s.Signature, s.AuthenticatorData, s.ClientDataJSON)
	s2 := k.Stamp(f, b)
	f.Add(s2.CredentialID, s2.Signature, []byte(nil), []byte(nil))
	f.Fuzz(func(t *testing.T, id, sig, ad, cd []byte) {
		var params policy.SignParams
		r, err := policy.Decode(b, &params)
		if err != nil {
			t.Fatal(err)
		}
		st := &policy.Stamp{CredentialID: id, Signature: sig, AuthenticatorData: ad, ClientDataJSON: cd}
		_, _ = policy.Check(b, r, st, p, policy.RightSign, cluster, now, policy.NewReplayCache(10, 0, func() time.Time { return now }), []byte("w"))
	})
}

func TestReplayCacheForgetsEachNonceAfterItsExpiry(t *testing.T) {
	clock := now
	c := policy.NewReplayCache(1000, 0, func() time.Time { return clock })
	for i := range 100 {
		// Expiries spread over 100 seconds, one already due this second.
		if !c.Add([]byte{byte(i), 1, 2, 3}, []byte("w"), now.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("nonce %d refused", i)
		}
	}
	tests := []struct {
		at   time.Duration
		want int
	}{
		// The nonce due this second is kept one more second: entries
		// may outlive their expiry by under a second, never the reverse.
		{0, 100},
		{10 * time.Second, 89},
		{98 * time.Second, 1},
		{99 * time.Second, 0},
	}
	for _, tc := range tests {
		clock = now.Add(tc.at)
		if got := c.Len(); got != tc.want {
			t.Fatalf("after %v: got %d live nonces, want %d", tc.at, got, tc.want)
		}
	}
	if !c.Add([]byte{5, 1, 2, 3}, []byte("w"), now.Add(time.Minute)) {
		t.Fatal("a nonce whose entry expired was refused")
	}
}
