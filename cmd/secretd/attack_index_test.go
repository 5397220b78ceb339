package main

import (
	"errors"
	"testing"

	"github.com/niomon/niomon/internal/witness/wproto"
	"github.com/niomon/niomon/secretd"
)

// TestAttackAStoredButUnconfirmedRecordNeverReplacesTheCurrentOne: the index lists each
// wallet as (instance, version), not the sealed record's content, so two
// records the enclave sealed at the same version of one wallet both pass.
//
// The user adds a key k3 to alice (version 2 → 3); the runner keeps the
// change from the witnesses (all three honest), so it is stored but
// unconfirmed, and the operator keeps the sealed record and puts the
// store back. The user reads the policy (version 2, no k3) and revokes
// k1 instead: version 3 again, acknowledged. The operator then writes the
// kept record over alice's row: it is version 3 of the same instance, so
// the current index lists it, and it holds k1. No restart is needed.
func TestAttackAStoredButUnconfirmedRecordNeverReplacesTheCurrentOne(t *testing.T) {
	s, _, ps := newStackBehindProxies(t, 3)
	app := s.dial()
	k1, k2, rc := aliceWithTwoKeys(t, app)
	db := s.db()
	walletV2 := s.takeRow(db, "wallet", "alice")
	bucketID := ""
	if err := db.QueryRow(`SELECT id FROM sealed_objects WHERE kind = 'index'`).Scan(&bucketID); err != nil {
		t.Fatal(err)
	}
	bucketV2 := s.takeRow(db, "index", bucketID)

	// The user adds k3; the runner drops every advance.
	for _, p := range ps {
		p.setMode(func(r *wproto.Request) bool { return r.Op == wproto.OpRead })
	}
	k3 := apiKey(t)
	_, err := app.UpdatePolicy(ctx(t), "alice", rc.Version, secretd.PolicyChange{Add: []secretd.Credential{k3.Credential()}}, k2,
		[]secretd.Credential{k1.Credential(), k2.Credential(), k3.Credential()}, k3)
	if !errors.Is(err, secretd.ErrUnavailable) {
		t.Fatalf("setup: adding k3 with every advance dropped: %v", err)
	}
	t.Logf("adding k3: %v", err)
	kept := s.takeRow(db, "wallet", "alice")
	if kept.version != 3 {
		t.Fatalf("setup: the stored record is at version %d", kept.version)
	}
	s.putRow(db, "wallet", "alice", walletV2)
	s.putRow(db, "index", bucketID, bucketV2)
	for _, p := range ps {
		p.setMode(nil)
	}

	// The user looks, sees version 2 without k3, and revokes k1.
	now, err := app.Policy(ctx(t), "alice")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the user reads alice's policy: version %d, %d credentials", now.Version, len(now.Credentials))
	acknowledgeRevocation(t, app, now.Version, k1, k2)

	// The operator writes the kept record over alice's row. An export
	// loads the wallet fresh from the store: at once.
	s.putRow(db, "wallet", "alice", kept)
	thief := s.dial()
	m, exportErr := thief.Export(ctx(t), "alice", k1)
	if exportErr == nil {
		t.Errorf("the revoked key exports the mnemonic (%d words) after its acknowledged revocation; all witnesses honest, no restart", len(splitWords(m)))
	} else {
		t.Logf("export refused: %v", exportErr)
	}
	// Signing takes the cached snapshot; once the enclave restarts (or
	// evicts alice) it loads the kept record too.
	s.restart()
	thief = s.dial()
	if _, err := thief.Sign(ctx(t), "alice", signParams("pay the thief"), k1); err == nil {
		t.Errorf("the revoked key signs after its acknowledged revocation (enclave restarted)")
	} else {
		t.Logf("sign refused: %v", err)
	}
	// What the user's own client, pinned at version 3, sees of it.
	if r, err := app.Policy(ctx(t), "alice"); err == nil {
		t.Logf("the user's pinned client reads alice's policy without complaint: version %d, %d credentials (holds k1: %v)",
			r.Version, len(r.Credentials), r.Holds(k1.Credential()))
	} else {
		t.Logf("the user's pinned client: %v", err)
	}
}
