package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/niomon/niomon/secretd"
)

// TestAttackWritesToABucketsOtherWalletsDoNotStarveAReplica: three
// witnesses, k = 2, none colluding, no message dropped or held. An app
// (any app: it needs only an API key) makes wallets of its own, one every
// 700 ms, on replica A, at oids in alice's index bucket (bucketOf is a
// public hash). Every create moves the bucket's head, and B waits out the
// leases the witnesses report before it serves a new head. alice must
// stay usable on B: a newer head that lists her alike serves as well.
// (Found by an independent review: when the head moved during a settle,
// B started over, at most three times, then refused, and alice could not
// use her wallet on B while the creates went on.)
func TestAttackWritesToABucketsOtherWalletsDoNotStarveAReplica(t *testing.T) {
	a, b, _, _, _ := replicaPair(t, 3)
	onA, onB := a.dial(), b.dial()
	k1, _, _ := warmAliceOnBoth(t, onA, onB)

	const createEvery = 700 * time.Millisecond
	const churn = 20 * time.Second
	created, createFailed, stopChurn := churnBucket(t, "alice", createEvery, int(churn/createEvery)+5, a.dial())

	time.Sleep(2 * time.Second)
	var ok, refused int
	var lastErr error
	start := time.Now()
	for n := 0; time.Since(start) < churn-4*time.Second; n++ {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t0 := time.Now()
		_, err := onB.Sign(c, "alice", signParams(fmt.Sprintf("churn %d", n)), k1)
		cancel()
		if err != nil {
			refused++
			lastErr = err
			t.Logf("B refused after %v: %v", time.Since(t0).Round(time.Millisecond), err)
		} else {
			ok++
			t.Logf("B signed after %v", time.Since(t0).Round(time.Millisecond))
		}
	}
	stopChurn()
	t.Logf("churn: %d wallets made on A (%d failed); B: %d signed, %d refused (last: %v)", created.Load(), createFailed.Load(), ok, refused, lastErr)

	// Once the churn stops, B serves alice again.
	time.Sleep(5 * time.Second)
	if _, err := onB.Sign(ctx(t), "alice", signParams("after the churn"), k1); err != nil {
		t.Errorf("B still refuses alice 5 s after the churn stopped: %v", err)
	}
	if ok == 0 || refused > ok {
		t.Errorf("an app making a wallet every %v in alice's bucket on A kept alice unusable on B: %d signed, %d refused", createEvery, ok, refused)
	}
}

// churnBucket has creators, in turn, make a wallet of their own every
// every at an oid in oid's index bucket (n oids in all, reused), until
// stop is called; it counts the wallets made and the creates that failed.
func churnBucket(t *testing.T, oid string, every time.Duration, n int, creators ...*secretd.Client) (created, failed *atomic.Int64, stop func()) {
	mates := bucketMates(t, oid, n)
	created, failed = new(atomic.Int64), new(atomic.Int64)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-time.After(every):
			}
			if _, err := creators[i%len(creators)].CreateWallet(ctx(t), mates[i%len(mates)], secretd.CreateOptions{Words: 12}, apiKey(t)); err != nil {
				failed.Add(1)
			} else {
				created.Add(1)
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { close(done); wg.Wait() }) }
	t.Cleanup(stop)
	return created, failed, stop
}

// TestReplicaServesABucketWrittenTwiceSinceItsLastRead: B's last read of
// the witnesses is still within its lease and saw one write to alice's
// bucket (B holds the bucket from before it), and A has written the
// bucket twice more since (wallets of an app's own at her bucket mates),
// so the store holds the head's version + 2. B must read the witnesses
// again, find that head certified, and serve alice, not call the store
// rolled back. (CI found B refusing alice for a second at a time under
// churn: its background reads, once a second, fell two writes behind.)
func TestReplicaServesABucketWrittenTwiceSinceItsLastRead(t *testing.T) {
	a, b, _, _, pb := replicaPair(t, 3)
	onA, onB := a.dial(), b.dial()
	k1, _, _ := warmAliceOnBoth(t, onA, onB)
	mates := bucketMates(t, "alice", 3)

	if _, err := onA.CreateWallet(ctx(t), mates[0], secretd.CreateOptions{Words: 12}, apiKey(t)); err != nil {
		t.Fatalf("setup: a wallet at %s on A: %v", mates[0], err)
	}
	cut := cutAfterARead(t, pb)
	for _, oid := range mates[1:] {
		if _, err := onA.CreateWallet(ctx(t), oid, secretd.CreateOptions{Words: 12}, apiKey(t)); err != nil {
			t.Fatalf("setup: a wallet at %s on A: %v", oid, err)
		}
	}
	for _, p := range pb {
		p.setMode(nil)
	}
	sinceRead := time.Since(cut)
	_, err := onB.Sign(ctx(t), "alice", signParams("two writes later"), k1)
	t.Logf("B was asked %v after its last witness read", sinceRead.Round(time.Millisecond))
	if err != nil {
		t.Fatalf("B refused alice after two writes to her bucket on A: %v", err)
	}
	if sinceRead > 2*time.Second {
		t.Logf("the two creates took %v: B's lease may have run out, so this run may not have tested a stale view", sinceRead)
	}
}
