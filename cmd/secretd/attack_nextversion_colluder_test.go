package main

import (
	"crypto/ed25519"
	"sync/atomic"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/witness/wproto"
	"github.com/niomon/niomon/secretd"
)

// TestAttackOneColluderAndAStoredNextVersionOnAnOlderCertifiedHeadNeverUndoARevocation:
// four witnesses, k = 3, witness 4 colludes (2k-n-1 = 1). As in
// TestAttackAStoredNextVersionOnAnOlderCertifiedHeadNeverUndoesARevocation,
// but the user's revocation R@1 is committed at witnesses 1, 2 and the
// colluder (the receipt counts the colluder), witness 3 holds B@0
// committed, and in the end the colluder acknowledges and "confirms"
// every advance and confirm it is sent, whatever its base. The store is
// put at X (v+2 on B@0); load() re-proposes X on B@0. k1 must stay
// refused. A failing test means the attack works.
func TestAttackOneColluderAndAStoredNextVersionOnAnOlderCertifiedHeadNeverUndoARevocation(t *testing.T) {
	s, ws, ps := newStackBehindProxies(t, 4)
	k1, k2, rc := aliceWithTwoKeys(t, s.dial())
	bucket, bid := reviewBucketOf("alice"), bucketRow("alice")
	rowH := s.takeRow(s.db(), "index", bid)
	mates := bucketMates(t, "alice", 2)
	opKey := apiKey(t)
	noConfirm := func(r *wproto.Request) bool { return !(r.Op == wproto.OpConfirm && r.Bucket == bucket) }

	// 1. B (v+1 on H) acknowledged by 2, 3, 4, committed nowhere.
	ps[0].setMode(readsOnly)
	for _, p := range ps[1:] {
		p.setMode(noConfirm)
	}
	_, err := s.dial().CreateWallet(ctx(t), mates[0], secretd.CreateOptions{Words: 12}, opKey)
	t.Logf("step 1 write B: %v", err)
	logHeads(t, ws, bucket, "after step 1")
	confB := confirmsOf(ps[2], bucket, func(h wproto.Head) bool { return true })
	if len(confB) == 0 {
		t.Fatal("setup: no confirm of B recorded at witness 3")
	}
	// 2. X (v+2 on B), reaching no witness.
	for _, p := range ps {
		p.setMode(readsOnly)
	}
	_, err = s.dial().CreateWallet(ctx(t), mates[1], secretd.CreateOptions{Words: 12}, opKey)
	t.Logf("step 2 write X: %v", err)
	rowX := s.takeRow(s.db(), "index", bid)
	walletK1 := s.takeRow(s.db(), "wallet", "alice") // alice with k1, as X lists her

	// 3. R (v+1 on H) steps over B, committed at 1, 2, 4; witness 3 cut off.
	s.stop()
	s.putRow(s.db(), "index", bid, rowH)
	for _, p := range ps {
		p.setMode(nil)
	}
	ps[2].setMode(dropAll)
	s.start()
	acknowledgeRevocation(t, s.dial(), rc.Version, k1, k2)
	logHeads(t, ws, bucket, "after step 3 (revocation)")

	// 4. B committed at witness 3 (its recorded confirm replayed).
	for _, raw := range confB {
		t.Logf("step 4 replayed confirm of B to witness 3: %s", replayTo(t, ws[2].addr, raw).Status)
	}
	logHeads(t, ws, bucket, "after step 4")

	// 5. The colluder acknowledges and confirms anything.
	key := witnessKey(t, ws[3])
	pub := key.Public().(ed25519.PublicKey)
	var lies atomic.Int64
	imp := startImpostor(t, ws[3], func(r *wproto.Request) []byte {
		resp := &wproto.Response{Op: r.Op, Witness: pub, Cluster: r.Cluster, Nonce: r.Nonce, Status: wproto.StatusOK}
		switch r.Op {
		case wproto.OpAdvance:
			resp.Current, resp.Ack = r.To, wproto.Acknowledge(key, r.Cluster, r.Bucket, *r.To)
		case wproto.OpConfirm:
			resp.Current, resp.Heads = r.To, []wproto.BucketHead{{Bucket: r.Bucket, Head: *r.To, QC: r.QC}}
		default:
			return nil
		}
		lies.Add(1)
		out, err := wproto.SignResponse(key, resp)
		if err != nil {
			t.Error(err)
		}
		return out
	})
	ps[3].setTarget(imp.Addr().String())
	s.stop()
	s.putRow(s.db(), "index", bid, rowX)
	s.putRow(s.db(), "wallet", "alice", walletK1)
	for _, p := range ps {
		p.setMode(nil)
	}
	s.start()
	time.Sleep(2 * time.Second)
	for i := 0; i < 3; i++ {
		revokedKeyRefused(t, s, k1, "store at X (v+2 on B@0), R@1 newest, one colluder")
		time.Sleep(500 * time.Millisecond)
	}
	logHeads(t, ws, bucket, "after step 5")
	t.Logf("colluder answers given: %d", lies.Load())
	_, err = s.dial().Sign(ctx(t), "alice", signParams("mine"), k2)
	t.Logf("the user's k2 with the store at X: %v", err)
}
