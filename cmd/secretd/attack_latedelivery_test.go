package main

import (
	"testing"
	"time"

	"github.com/niomon/niomon/internal/hostlink"
)

// TestAttackAnExportAuthorisedBeforeARevocationCanBeDeliveredAfterIt
// shows a limit docs/secretd-security.md states: the runner holds back
// its answer to the audit event an export stores after every index check
// (it could as well hold back the export's answer): B's export with k1,
// authorised before the revocation, leaves after the user was shown the
// receipt. A new export with k1, asked for after the receipt, is refused.
func TestAttackAnExportAuthorisedBeforeARevocationCanBeDeliveredAfterIt(t *testing.T) {
	a, b, _, _, _ := replicaPair(t, 3)
	tap := tapped(t, b, "b-tap")
	onA, onB := a.dial(), b.dial()
	k1, k2, rc := warmAliceOnBoth(t, onA, onB)
	tap.holdNext(func(m *hostlink.Message) bool {
		return m.Op == hostlink.OpCreate && m.Object != nil && m.Object.Kind == "audit"
	}, 8*time.Second)
	type result struct {
		words int
		err   error
		at    time.Time
	}
	done := make(chan result, 1)
	go func() {
		m, err := onB.Export(ctx(t), "alice", k1)
		done <- result{len(splitWords(m)), err, time.Now()}
	}()
	time.Sleep(300 * time.Millisecond)
	if !tap.holds() {
		t.Fatal("setup: the runner was never asked to store the export's audit event")
	}
	acknowledgeRevocation(t, onA, rc.Version, k1, k2)
	shown := time.Now()
	r := <-done
	if r.err != nil || !r.at.After(shown) {
		t.Fatalf("the export authorised before the revocation: %v, %v after the receipt; want it delivered late, as the docs say", r.err, r.at.Sub(shown))
	}
	t.Logf("the export authorised before the revocation left %v after the receipt", r.at.Sub(shown))
	if _, err := onB.Export(ctx(t), "alice", k1); err == nil {
		t.Fatal("an export with the revoked key, asked for after the receipt, was answered")
	}
}
