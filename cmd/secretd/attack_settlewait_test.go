package main

import (
	"errors"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/witness/wproto"
	"github.com/niomon/niomon/secretd"
)

// TestAttackASettleWaitNeverOutlivesTheLease: three witnesses, k = 2,
// none colluding; replicas A and B share the store.
//
//  1. alice has k1 and k2; B holds alice's snapshot (warm) and a lease.
//  2. The operator makes a wallet of its own in alice's bucket on A and
//     lets only witness 1 hear A's confirmation: the new head H_m is
//     certified, committed at witness 1 only (alice unchanged in it).
//  3. B reads the witnesses once more (view 1 shows H_m), then B's runner
//     drops every read of B's (confirms and advances still pass).
//  4. Late in B's lease, the thief asks B to sign with k1. B's head is
//     H_m, committed at one view: settle writes it back (B's confirms)
//     and waits out the leases the witnesses report: A's, 2-3 s.
//  5. Meanwhile the user revokes k1 on A. A waits out B's lease (which
//     ends about 3 s after B's last read) and shows the receipt.
//  6. B's settle wait ends after that. B must take the head again under
//     a lease before it serves the bucket: k1 is refused. (Found by an
//     independent review: bucket() returned H_m's bucket without looking
//     at the head or the lease again, and B signed with k1 1.0 s after
//     the user saw the receipt, three runs of three.)
func TestAttackASettleWaitNeverOutlivesTheLease(t *testing.T) {
	a, b, _, pa, pb := replicaPair(t, 3)
	onA, onB := a.dial(), b.dial()
	k1, k2, rc := warmAliceOnBoth(t, onA, onB)
	bucket := reviewBucketOf("alice")

	// 2. The operator's own wallet in alice's bucket, confirmed at witness 1 only.
	noConfirm := func(r *wproto.Request) bool { return r.Op != wproto.OpConfirm }
	pa[1].setMode(noConfirm)
	pa[2].setMode(noConfirm)
	mate := bucketMates(t, "alice", 1)[0]
	if _, err := a.dial().CreateWallet(ctx(t), mate, secretd.CreateOptions{Words: 12}, apiKey(t)); !errors.Is(err, secretd.ErrUnavailable) {
		t.Fatalf("setup: the operator's create, confirmed at witness 1 only: %v", err)
	}
	pa[1].setMode(nil)
	pa[2].setMode(nil)

	// 3. B reads once more (witness 1 shows the operator's head), then its reads are cut.
	waitForNewRead(t, pb[0])
	noRead := func(r *wproto.Request) bool { return r.Op != wproto.OpRead }
	for _, p := range pb {
		p.setMode(noRead)
	}
	cut := time.Now()

	// 4. Late in B's lease, the thief signs with k1 on B.
	time.Sleep(1800 * time.Millisecond)
	confirms := len(confirmsOf(pb[1], bucket, func(wproto.Head) bool { return true }))
	type result struct {
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		_, err := onB.Sign(ctx(t), "alice", signParams("pay the thief"), k1)
		done <- result{err, time.Now()}
	}()
	deadline := time.Now().Add(2 * time.Second)
	for len(confirmsOf(pb[1], bucket, func(wproto.Head) bool { return true })) == confirms {
		if time.Now().After(deadline) {
			t.Logf("B sent no write-back confirm (it may have refused or served at once)")
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)

	// 5. The user revokes k1 on A and is shown the receipt.
	start := time.Now()
	rv, err := onA.UpdatePolicy(ctx(t), "alice", rc.Version, secretd.PolicyChange{Remove: [][]byte{k1.Credential().ID}}, k2,
		[]secretd.Credential{k2.Credential()})
	if err != nil {
		t.Fatalf("the user's revocation: %v", err)
	}
	shown := time.Now()
	t.Logf("revocation acknowledged (alice v%d) %v after B's reads were cut, after waiting %v", rv.Version, shown.Sub(cut), shown.Sub(start))

	// 6.
	r := <-done
	switch {
	case r.err == nil && r.at.After(shown):
		t.Errorf("B signed with the revoked key %v after the user was shown the receipt of its revocation (%v after B's last read)", r.at.Sub(shown), r.at.Sub(cut))
	case r.err == nil:
		t.Logf("B signed %v before the receipt: no violation", shown.Sub(r.at))
	default:
		t.Logf("B refused: %v", r.err)
	}
}
