package main

import (
	"testing"
	"time"

	"github.com/niomon/niomon/internal/hostlink"
	"github.com/niomon/niomon/secretd"
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
	r := exportDuringRevocation(t, tap, onA, onB, "the export's audit event", func(m *hostlink.Message) bool {
		return m.Op == hostlink.OpCreate && m.Object != nil && m.Object.Kind == "audit"
	})
	if r.err != nil || r.afterReceipt <= 0 {
		t.Fatalf("the export authorised before the revocation: %v, %v after the receipt; want it delivered late, as the docs say", r.err, r.afterReceipt)
	}
	t.Logf("the export authorised before the revocation left %v after the receipt", r.afterReceipt)
	if _, err := onB.Export(ctx(t), "alice", r.k1); err == nil {
		t.Fatal("an export with the revoked key, asked for after the receipt, was answered")
	}
}

// lateExport is what exportDuringRevocation saw.
type lateExport struct {
	words        int
	err          error
	afterReceipt time.Duration // when the export's answer came, from the receipt (negative: before)
	k1           *secretd.P256Key
}

// exportDuringRevocation gives alice two keys, warm on both clients, and
// exports with k1 on onB while the tap holds back the first host-link
// message held matches (what names it) and k1 is revoked on onA.
func exportDuringRevocation(t *testing.T, tap *hostTap, onA, onB *secretd.Client, what string, held func(*hostlink.Message) bool) lateExport {
	t.Helper()
	k1, k2, rc := warmAliceOnBoth(t, onA, onB)
	var words int
	err, after := whileHeld(t, tap, what, held, func() error {
		m, err := onB.Export(ctx(t), "alice", k1)
		words = len(splitWords(m))
		return err
	}, func() { acknowledgeRevocation(t, onA, rc.Version, k1, k2) })
	return lateExport{words: words, err: err, afterReceipt: after, k1: k1}
}

// whileHeld runs op while the tap holds back, 8 s, the first host-link
// message held matches (what names it), and revoke (which shows the user
// a receipt) meanwhile. It returns op's error and when op's answer came,
// from the receipt (negative: before).
func whileHeld(t *testing.T, tap *hostTap, what string, held func(*hostlink.Message) bool, op func() error, revoke func()) (error, time.Duration) {
	t.Helper()
	tap.holdNext(held, 8*time.Second)
	type result struct {
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		err := op()
		done <- result{err, time.Now()}
	}()
	time.Sleep(300 * time.Millisecond)
	if !tap.holds() {
		t.Fatalf("setup: the runner was never asked for %s", what)
	}
	revoke()
	shown := time.Now()
	r := <-done
	return r.err, r.at.Sub(shown)
}

// refusedAfterReceipt fails t if op answered (err nil) after the receipt.
func refusedAfterReceipt(t *testing.T, err error, afterReceipt time.Duration, what string) {
	t.Helper()
	switch {
	case err == nil && afterReceipt > 0:
		t.Errorf("%s with the revoked key %v after the user was shown the receipt", what, afterReceipt)
	case err == nil:
		t.Logf("%s %v before the receipt: no violation", what, -afterReceipt)
	default:
		t.Logf("refused: %v", err)
	}
}
