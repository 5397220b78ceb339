package main

import (
	"testing"
	"time"

	"github.com/niomon/niomon/internal/hostlink"
)

// TestAttackAHeldWalletReadOnAColdSignNeverOutlivesARevocation: B never loaded alice (no
// cached snapshot, bucket not warm), so walletStore.read reads her wallet
// in a goroutine while freshness.bucket runs, and awaits it afterwards.
// B's runner holds that wallet read back 8 s while the user revokes k1 on
// A. whileListed takes the bucket again (under a lease) before the
// snapshot is used: k1 must be refused.
func TestAttackAHeldWalletReadOnAColdSignNeverOutlivesARevocation(t *testing.T) {
	a, b, _, _, _ := replicaPair(t, 3)
	tap := tapped(t, b, "b-tap")
	onA, onB := a.dial(), b.dial()
	k1, k2, rc := aliceWithTwoKeys(t, onA)
	tap.holdNext(func(m *hostlink.Message) bool {
		return m.Op == hostlink.OpGet && m.Object != nil && m.Object.Kind == "wallet" && m.Object.ID == "alice"
	}, 8*time.Second)
	type result struct {
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		_, err := onB.Sign(ctx(t), "alice", signParams("pay the thief"), k1)
		done <- result{err, time.Now()}
	}()
	time.Sleep(300 * time.Millisecond)
	if !tap.holds() {
		t.Fatalf("setup: B never asked its runner for alice's wallet")
	}
	acknowledgeRevocation(t, onA, rc.Version, k1, k2)
	shown := time.Now()
	r := <-done
	switch {
	case r.err == nil && r.at.After(shown):
		t.Errorf("B signed with the revoked key %v after the receipt", r.at.Sub(shown))
	case r.err == nil:
		t.Logf("B signed %v before the receipt", shown.Sub(r.at))
	default:
		t.Logf("B refused: %v", r.err)
	}
	refusesRevokedKey(t, onB, k1)
}
