package main

import (
	"testing"

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
	err, after := whileHeld(t, tap, "alice's wallet", func(m *hostlink.Message) bool {
		return m.Op == hostlink.OpGet && m.Object != nil && m.Object.Kind == "wallet" && m.Object.ID == "alice"
	}, func() error {
		_, err := onB.Sign(ctx(t), "alice", signParams("pay the thief"), k1)
		return err
	}, func() { acknowledgeRevocation(t, onA, rc.Version, k1, k2) })
	refusedAfterReceipt(t, err, after, "B signed")
	refusesRevokedKey(t, onB, k1)
}
