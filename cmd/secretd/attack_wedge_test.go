package main

import (
	"testing"
	"time"

	"github.com/niomon/niomon/internal/witness/wproto"
	"github.com/niomon/niomon/secretd"
)

// TestAttackHeadsNoQuorumCommittedAndALostNextVersionDoNotWedgeABucket:
// three witnesses, k = 2, none colluding. Alice's bucket is at P (v),
// committed everywhere.
//
//  1. The operator's write C (v+1 on P): witness 1 hears no advance,
//     witness 3 no confirm. Q0 = (v+1,0,C) certified by 2 and 3,
//     committed at witness 2 only.
//  2. Store back at P, enclave restarted, witness 2 unreachable, witness 1
//     gets no confirm: the operator's write C' (v+1 on P) conflicts at 3,
//     retries at ballot 1: Q1 = (v+1,1,C') certified by 1 and 3, committed
//     at witness 3 only (newest certified head from now on).
//  3. Store back at C, enclave restarted, witness 3 unreachable, no
//     confirm passes: the operator's write CX (v+2 on Q0) is acknowledged
//     by witnesses 1 and 2 (bars Q1 there, and moves their current heads
//     to v+2), committed nowhere, its certificate lost with the enclave.
//  4. The operator stops; the store holds its last write, CX.
//
// Every witness honest and reachable: Q1 can never be committed at k
// (witnesses 1 and 2 are barred at (v+2,0)), re-proposing at v+1 fails
// (their current heads are at v+2), and the store's CX is not on Q1, the
// newest certified head. The enclave completes CX on its own base, Q0
// (which witness 2's view holds), at a ballot past (v+2,0): witnesses 1
// and 2 acknowledge, and all three commit it. Before that fix alice's
// own key was refused for good, across restarts.
func TestAttackHeadsNoQuorumCommittedAndALostNextVersionDoNotWedgeABucket(t *testing.T) {
	s, ws, ps := newStackBehindProxies(t, 3)
	k1, k2, _ := aliceWithTwoKeys(t, s.dial())
	bucket, bid := reviewBucketOf("alice"), bucketRow("alice")
	rowP := s.takeRow(s.db(), "index", bid)
	mates := bucketMates(t, "alice", 4)
	opKey := apiKey(t)
	noConfirm := func(r *wproto.Request) bool { return !(r.Op == wproto.OpConfirm && r.Bucket == bucket) }
	logHeads(t, ws, bucket, "start")

	// write is one of the operator's writes in alice's bucket, each
	// witness's proxy in its mode; with the store's bucket put at from
	// and the enclave restarted first, unless from is nil.
	write := func(step, name string, from *row, oid string, modes ...func(*wproto.Request) bool) {
		if from != nil {
			s.stop()
			s.putRow(s.db(), "index", bid, *from)
		}
		for i, m := range modes {
			ps[i].setMode(m)
		}
		if from != nil {
			s.start()
		}
		_, err := s.dial().CreateWallet(ctx(t), oid, secretd.CreateOptions{Words: 12}, opKey)
		t.Logf("step %s write %s: %v", step, name, err)
		logHeads(t, ws, bucket, "after step "+step)
	}
	write("1", "C", nil, mates[0], readsOnly, nil, noConfirm)
	rowC := s.takeRow(s.db(), "index", bid)
	write("2", "C'", &rowP, mates[1], noConfirm, dropAll, nil)
	write("3", "CX", &rowC, mates[2], noConfirm, noConfirm, dropAll)

	// 4.
	s.stop()
	for _, p := range ps {
		p.setMode(nil)
	}
	s.start()
	// Let the enclave's first background read reach all three witnesses:
	// a request that lands while only witnesses 1 and 2 have answered sees
	// Q0 as newest and completes CX (a race that can unwedge the bucket
	// at boot; once witness 3's Q1 is in view it never does).
	time.Sleep(2 * time.Second)
	user := s.dial()
	var err error
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		if _, err = user.Sign(ctx(t), "alice", signParams("mine"), k2); err == nil {
			break
		}
	}
	logHeads(t, ws, bucket, "after step 4")
	if err != nil {
		_, cerr := user.CreateWallet(ctx(t), mates[3], secretd.CreateOptions{Words: 12}, apiKey(t))
		s.restart()
		time.Sleep(2 * time.Second)
		_, err2 := s.dial().Sign(ctx(t), "alice", signParams("mine"), k2)
		t.Fatalf("no interference, every witness up, none colluding, store at its last write: the user's own key is refused: %v (a new wallet in the bucket: %v; after another restart: %v)", err, cerr, err2)
	}
	p, err := user.Policy(ctx(t), "alice")
	if err != nil {
		t.Fatalf("policy read: %v", err)
	}
	if _, err := user.UpdatePolicy(ctx(t), "alice", p.Version, secretd.PolicyChange{Remove: [][]byte{k1.Credential().ID}}, k2,
		[]secretd.Credential{k2.Credential()}); err != nil {
		t.Fatalf("the user's revocation fails: %v", err)
	}
}
