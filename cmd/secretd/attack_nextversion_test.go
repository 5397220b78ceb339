package main

import (
	"crypto/ed25519"
	"sync/atomic"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/witness/wproto"
	"github.com/niomon/niomon/secretd"
)

// A store write of the next version on a certified head older than the
// newest is proposed again on its own base (fresh.go, load). These tests
// turn that against a revocation: whatever the store holds, the witnesses'
// base checks must keep a head committed at k from being stepped over.

// nextVersionOnB is what the operator holds after steps 1 to 4, with n
// witnesses behind proxies, none colluding yet. alice is at H (v),
// committed everywhere.
//
//  1. The operator's write B (v+1 on H): witness 1 hears no advance, the
//     others acknowledge (B@0 certified), every confirm is recorded and
//     dropped.
//  2. The same enclave (B pending) writes X (v+2 on B, listing alice with
//     k1): no advance reaches any witness. X's bucket and alice's wallet
//     row are kept.
//  3. Store back at H, enclave restarted, witness 3 cut off: the user's
//     revocation R (v+1 on H) steps over B@0 at ballot 1 and is committed
//     at every witness but 3; the user sees the receipt.
//  4. B's recorded confirm is replayed to witness 3 (B@0 committed there):
//     two certified heads of v+1, R@1 the newest.
type nextVersionOnB struct {
	s        *stack
	ws       []*reviewWitness
	ps       []*wproxy
	bucket   uint32
	bid      string
	k1, k2   *secretd.P256Key
	rowX     row // the index bucket X
	walletK1 row // alice's wallet row with k1, as X lists her
}

func storedNextVersionOnB(t *testing.T, n int) *nextVersionOnB {
	s, ws, ps := newStackBehindProxies(t, n)
	k1, k2, rc := aliceWithTwoKeys(t, s.dial())
	nv := &nextVersionOnB{s: s, ws: ws, ps: ps, bucket: reviewBucketOf("alice"), bid: bucketRow("alice"), k1: k1, k2: k2}
	rowH := s.takeRow(s.db(), "index", nv.bid)
	mates := bucketMates(t, "alice", 2)
	opKey := apiKey(t)
	noConfirm := func(r *wproto.Request) bool { return !(r.Op == wproto.OpConfirm && r.Bucket == nv.bucket) }
	logHeads(t, ws, nv.bucket, "start")

	// 1.
	ps[0].setMode(readsOnly)
	for _, p := range ps[1:] {
		p.setMode(noConfirm)
	}
	_, err := s.dial().CreateWallet(ctx(t), mates[0], secretd.CreateOptions{Words: 12}, opKey)
	t.Logf("step 1 write B: %v", err)
	logHeads(t, ws, nv.bucket, "after step 1")
	confB := confirmsOf(ps[2], nv.bucket, func(h wproto.Head) bool { return true })
	if len(confB) == 0 {
		t.Fatal("setup: no confirm of B recorded at witness 3")
	}

	// 2.
	for _, p := range ps {
		p.setMode(readsOnly)
	}
	_, err = s.dial().CreateWallet(ctx(t), mates[1], secretd.CreateOptions{Words: 12}, opKey)
	t.Logf("step 2 write X: %v", err)
	nv.rowX = s.takeRow(s.db(), "index", nv.bid)
	nv.walletK1 = s.takeRow(s.db(), "wallet", "alice")

	// 3.
	s.stop()
	s.putRow(s.db(), "index", nv.bid, rowH)
	for _, p := range ps {
		p.setMode(nil)
	}
	ps[2].setMode(dropAll)
	s.start()
	acknowledgeRevocation(t, s.dial(), rc.Version, k1, k2)
	logHeads(t, ws, nv.bucket, "after step 3 (revocation)")

	// 4.
	for _, raw := range confB {
		t.Logf("step 4 replayed confirm of B to witness 3: %s", replayTo(t, ws[2].addr, raw).Status)
	}
	logHeads(t, ws, nv.bucket, "after step 4")
	return nv
}

// storeAtX puts X and alice's wallet row with k1 in the store, lets every
// message through, and restarts the enclave: its load finds X (v+2) not
// on R@1 and proposes it again on B@0 (witness 3's view).
func (nv *nextVersionOnB) storeAtX(t *testing.T) {
	nv.s.stop()
	nv.s.putRow(nv.s.db(), "index", nv.bid, nv.rowX)
	nv.s.putRow(nv.s.db(), "wallet", "alice", nv.walletK1)
	for _, p := range nv.ps {
		p.setMode(nil)
	}
	nv.s.start()
	time.Sleep(2 * time.Second)
}

// TestAttackAStoredNextVersionOnAnOlderCertifiedHeadNeverUndoesARevocation:
// three witnesses, k = 2, none colluding. Steps 1 to 4 (nextVersionOnB),
// then:
//
//  5. Store at X with alice's wallet row with k1.
//  6. Every request the runner saw is replayed to every witness; restart.
//
// k1 must stay refused throughout.
func TestAttackAStoredNextVersionOnAnOlderCertifiedHeadNeverUndoesARevocation(t *testing.T) {
	nv := storedNextVersionOnB(t, 3)
	s := nv.s

	// 5.
	nv.storeAtX(t)
	for range 3 {
		revokedKeyRefused(t, s, nv.k1, "store at X (v+2 on B@0), R@1 newest")
		time.Sleep(500 * time.Millisecond)
	}
	logHeads(t, nv.ws, nv.bucket, "after step 5")

	// 6.
	for _, p := range nv.ps {
		for _, raw := range p.requests() {
			if r, err := wproto.OpenRequest(raw); err != nil || r.Op == wproto.OpRead {
				continue
			}
			for _, w := range nv.ws {
				replayTo(t, w.addr, raw)
			}
		}
	}
	logHeads(t, nv.ws, nv.bucket, "after step 6 replay")
	s.restart()
	time.Sleep(2 * time.Second)
	revokedKeyRefused(t, s, nv.k1, "store at X, every recorded request replayed everywhere")
	_, err := s.dial().Sign(ctx(t), "alice", signParams("mine"), nv.k2)
	t.Logf("the user's k2 with the store at X: %v", err)
}

// TestAttackOneColluderAndAStoredNextVersionOnAnOlderCertifiedHeadNeverUndoARevocation:
// four witnesses, k = 3, witness 4 colludes (2k-n-1 = 1). Steps 1 to 4
// (nextVersionOnB: R@1 is committed at witnesses 1, 2 and the colluder,
// and the receipt counts the colluder), then the colluder acknowledges
// and "confirms" every advance and confirm it is sent, whatever its base,
// and the store is put at X. k1 must stay refused.
func TestAttackOneColluderAndAStoredNextVersionOnAnOlderCertifiedHeadNeverUndoARevocation(t *testing.T) {
	nv := storedNextVersionOnB(t, 4)
	s, ws := nv.s, nv.ws

	// 5.
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
	nv.ps[3].setTarget(imp.Addr().String())
	nv.storeAtX(t)
	for range 3 {
		revokedKeyRefused(t, s, nv.k1, "store at X (v+2 on B@0), R@1 newest, one colluder")
		time.Sleep(500 * time.Millisecond)
	}
	logHeads(t, ws, nv.bucket, "after step 5")
	t.Logf("colluder answers given: %d", lies.Load())
	_, err := s.dial().Sign(ctx(t), "alice", signParams("mine"), nv.k2)
	t.Logf("the user's k2 with the store at X: %v", err)
}
