package main

import (
	"testing"
	"time"

	"github.com/niomon/niomon/internal/witness/wproto"
	"github.com/niomon/niomon/secretd"
)

// TestAttackAStoredNextVersionOnAnOlderCertifiedHeadNeverUndoesARevocation:
// three witnesses, k = 2, none colluding. It aims the load() branch that
// re-proposes a store bucket of version h.Version+1 built on a certified
// head of h's version other than h.
//
//  1. alice at H (v), committed everywhere. The operator's write B (v+1 on
//     H): witness 1 hears no advance, witnesses 2 and 3 acknowledge
//     (B@0 certified), every confirm is recorded and dropped.
//  2. The same enclave (pending B) writes X (v+2 on B, lists alice with
//     k1): no advance reaches any witness.
//  3. Store back at H, enclave restarted, witness 3 cut off: the user's
//     revocation R (v+1 on H) steps over B@0 at ballot 1 (witnesses 1, 2)
//     and is committed at 1 and 2; receipt shown.
//  4. The operator replays B's recorded confirm to witness 3 (com B@0 there,
//     bar still B@0): two certified heads of v+1, R@1 newest.
//  5. Store at X and alice's wallet row with k1 (as X lists her), every
//     witness reachable, enclave restarted: load sees
//     X (v+2) not on R@1 and re-proposes it on B@0 (witness 3's view).
//  6. Every request the runner saw is replayed to every witness, restart.
//
// k1 must stay refused throughout. A failing test means the attack works.
func TestAttackAStoredNextVersionOnAnOlderCertifiedHeadNeverUndoesARevocation(t *testing.T) {
	s, ws, ps := newStackBehindProxies(t, 3)
	k1, k2, rc := aliceWithTwoKeys(t, s.dial())
	bucket, bid := reviewBucketOf("alice"), bucketRow("alice")
	rowH := s.takeRow(s.db(), "index", bid)
	mates := bucketMates(t, "alice", 2)
	opKey := apiKey(t)
	noConfirm := func(r *wproto.Request) bool { return !(r.Op == wproto.OpConfirm && r.Bucket == bucket) }
	logHeads(t, ws, bucket, "start")

	// 1.
	ps[0].setMode(readsOnly)
	ps[1].setMode(noConfirm)
	ps[2].setMode(noConfirm)
	_, err := s.dial().CreateWallet(ctx(t), mates[0], secretd.CreateOptions{Words: 12}, opKey)
	t.Logf("step 1 write B: %v", err)
	logHeads(t, ws, bucket, "after step 1")
	confB := confirmsOf(ps[2], bucket, func(h wproto.Head) bool { return true })
	if len(confB) == 0 {
		t.Fatal("setup: no confirm of B recorded at witness 3")
	}

	// 2.
	for _, p := range ps {
		p.setMode(readsOnly)
	}
	_, err = s.dial().CreateWallet(ctx(t), mates[1], secretd.CreateOptions{Words: 12}, opKey)
	t.Logf("step 2 write X: %v", err)
	rowX := s.takeRow(s.db(), "index", bid)
	walletK1 := s.takeRow(s.db(), "wallet", "alice") // alice with k1, as X lists her

	// 3.
	s.stop()
	s.putRow(s.db(), "index", bid, rowH)
	ps[0].setMode(nil)
	ps[1].setMode(nil)
	ps[2].setMode(dropAll)
	s.start()
	acknowledgeRevocation(t, s.dial(), rc.Version, k1, k2)
	logHeads(t, ws, bucket, "after step 3 (revocation)")

	// 4.
	for _, raw := range confB {
		r := replayTo(t, ws[2].addr, raw)
		t.Logf("step 4 replayed confirm of B to witness 3: %s", r.Status)
	}
	logHeads(t, ws, bucket, "after step 4")

	// 5.
	s.stop()
	s.putRow(s.db(), "index", bid, rowX)
	s.putRow(s.db(), "wallet", "alice", walletK1)
	for _, p := range ps {
		p.setMode(nil)
	}
	s.start()
	time.Sleep(2 * time.Second)
	for i := 0; i < 3; i++ {
		revokedKeyRefused(t, s, k1, "store at X (v+2 on B@0), R@1 newest")
		time.Sleep(500 * time.Millisecond)
	}
	logHeads(t, ws, bucket, "after step 5")

	// 6.
	for _, p := range ps {
		for _, raw := range p.requests() {
			if r, err := wproto.OpenRequest(raw); err != nil || r.Op == wproto.OpRead {
				continue
			}
			for _, w := range ws {
				replayTo(t, w.addr, raw)
			}
		}
	}
	logHeads(t, ws, bucket, "after step 6 replay")
	s.restart()
	time.Sleep(2 * time.Second)
	revokedKeyRefused(t, s, k1, "store at X, every recorded request replayed everywhere")
	_, err = s.dial().Sign(ctx(t), "alice", signParams("mine"), k2)
	t.Logf("the user's k2 with the store at X: %v", err)
}
