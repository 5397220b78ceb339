package main

import (
	"context"
	"testing"
	"time"

	"github.com/niomon/niomon/secretd"
)

// TestAttackWritesToABucketsOtherWalletsDoNotBlockARevocation: as
// TestAttackWritesToABucketsOtherWalletsDoNotStarveAReplica, but the app
// makes its wallets in alice's bucket on A and B in turn (one every
// 700 ms in all). The user's revocation of k1 must succeed meanwhile.
// (Found by the same review: it failed on either replica, errIndexBusy,
// for as long as the creates went on.)
func TestAttackWritesToABucketsOtherWalletsDoNotBlockARevocation(t *testing.T) {
	a, b, _, _, _ := replicaPair(t, 3)
	onA, onB := a.dial(), b.dial()
	k1, k2, rc := warmAliceOnBoth(t, onA, onB)
	_, _, stop := churnBucket(t, "alice", 700*time.Millisecond, 60, a.dial(), b.dial())
	defer stop()
	time.Sleep(3 * time.Second)

	var failed int
	for i, user := range []*secretd.Client{onA, onB, onA} {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t0 := time.Now()
		rv, err := user.UpdatePolicy(c, "alice", rc.Version, secretd.PolicyChange{Remove: [][]byte{k1.Credential().ID}}, k2,
			[]secretd.Credential{k2.Credential()})
		cancel()
		if err == nil {
			t.Logf("try %d: the revocation was acknowledged after %v (version %d)", i, time.Since(t0).Round(time.Millisecond), rv.Version)
			return
		}
		failed++
		t.Logf("try %d (%s): the revocation failed after %v: %v", i, map[int]string{0: "A", 1: "B", 2: "A"}[i], time.Since(t0).Round(time.Millisecond), err)
	}
	t.Errorf("an app making wallets in alice's bucket kept the user from revoking k1: %d tries failed", failed)
}
