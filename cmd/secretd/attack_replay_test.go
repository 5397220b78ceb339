package main

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/secretd"
)

// recorder is the user's stamper as the relaying app sees it: every
// request and stamp passes through the app, which keeps a copy.
type recorder struct {
	secretd.Stamper
	reqs   [][]byte
	stamps []*secretd.Stamp
}

func (r *recorder) Stamp(req []byte) (*secretd.Stamp, error) {
	st, err := r.Stamper.Stamp(req)
	if err == nil {
		r.reqs, r.stamps = append(r.reqs, bytes.Clone(req)), append(r.stamps, st)
	}
	return st, err
}

func (r *recorder) last() []any { n := len(r.reqs) - 1; return []any{r.reqs[n], r.stamps[n]} }

// TestAttackReplayedStampedRequestsGainNothing replays what an app relayed, within
// the 2-minute window: to the same enclave, after a restart, and to a
// replica.
func TestAttackReplayedStampedRequestsGainNothing(t *testing.T) {
	s, _ := newStackWithWitnesses(t, 3)
	app := s.dial()
	k1, k2 := apiKey(t), apiKey(t)
	rec1, rec2 := &recorder{Stamper: k1}, &recorder{Stamper: k2}
	rc, err := app.CreateWallet(ctx(t), "alice", secretd.CreateOptions{Words: 12}, rec1)
	if err != nil {
		t.Fatal(err)
	}
	rc, err = app.UpdatePolicy(ctx(t), "alice", rc.Version, secretd.PolicyChange{Add: []secretd.Credential{k2.Credential()}}, rec1,
		[]secretd.Credential{k1.Credential(), k2.Credential()}, k2)
	if err != nil {
		t.Fatal(err)
	}
	addK2 := rec1.last()
	if _, err := app.Sign(ctx(t), "alice", signParams("one payment"), rec1); err != nil {
		t.Fatal(err)
	}
	signK1 := rec1.last()
	sig2, err := app.Sign(ctx(t), "alice", signParams("another payment"), rec2)
	if err != nil {
		t.Fatal(err)
	}
	signK2 := rec2.last()

	t.Run("a sign replayed to the same enclave is refused", func(t *testing.T) {
		if err := app.Call(ctx(t), "hdwallet_sign", signK2, nil); !errors.Is(err, secretd.ErrUnauthorized) {
			t.Fatalf("got %v, want a replay refusal", err)
		}
	})
	// A replica keeps its own replay cache (a known weakness, in
	// docs/secretd-security.md): it signs the replayed digest again. It
	// gains the operator nothing: secp256k1 signing is deterministic
	// (RFC 6979), so the answer is the signature it already relayed.
	t.Run("a sign replayed to a replica returns only the signature already relayed", func(t *testing.T) {
		b := &stack{t: t, dir: s.dir, data: s.data, sock: "unix:" + filepath.Join(s.dir, "rb.sock"), keyFile: s.keyFile, key: s.key, witness: s.witness,
			runArgs: []string{"--join", s.addr, "--join-identity", s.identity, "--join-key", s.keyFile}}
		b.start()
		defer b.stop()
		var out api.SignResult
		err := b.dial().Call(ctx(t), "hdwallet_sign", signK2, &out)
		if err != nil {
			t.Logf("replayed to a replica: refused (%v)", err)
			return
		}
		if !bytes.Equal(out.Signature, sig2.Signature) {
			t.Fatalf("replayed to a replica: a new signature %x, not the relayed %x", out.Signature, sig2.Signature)
		}
	})
	t.Run("a policy change replayed after a restart is refused", func(t *testing.T) {
		s.restart()
		if err := s.dial().Call(ctx(t), "hdwallet_update_policy", addK2, nil); !errors.Is(err, secretd.ErrConflict) {
			t.Fatalf("got %v, want a conflict (the version moved on)", err)
		}
	})
	t.Run("a sign stamped by k1 before its revocation, replayed after it, is refused", func(t *testing.T) {
		app := s.dial()
		if _, err := app.UpdatePolicy(ctx(t), "alice", rc.Version, secretd.PolicyChange{Remove: [][]byte{k1.Credential().ID}}, k2,
			[]secretd.Credential{k2.Credential()}); err != nil {
			t.Fatal(err)
		}
		if err := app.Call(ctx(t), "hdwallet_sign", signK1, nil); !errors.Is(err, secretd.ErrUnauthorized) {
			t.Fatalf("got %v, want the revoked credential refused", err)
		}
		s.restart()
		if err := s.dial().Call(ctx(t), "hdwallet_sign", signK1, nil); !errors.Is(err, secretd.ErrUnauthorized) {
			t.Fatalf("after a restart: got %v, want the revoked credential refused", err)
		}
	})
}
