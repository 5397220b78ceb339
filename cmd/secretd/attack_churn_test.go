package main

import (
	"context"
	"fmt"
	"sync"
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
	creator := a.dial()

	const createEvery = 700 * time.Millisecond
	const churn = 20 * time.Second
	mates := bucketMates(t, "alice", int(churn/createEvery)+5)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var created, createFailed int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(createEvery):
			}
			if _, err := creator.CreateWallet(ctx(t), mates[i%len(mates)], secretd.CreateOptions{Words: 12}, apiKey(t)); err != nil {
				createFailed++
			} else {
				created++
			}
		}
	}()

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
	close(stop)
	wg.Wait()
	t.Logf("churn: %d wallets made on A (%d failed); B: %d signed, %d refused (last: %v)", created, createFailed, ok, refused, lastErr)

	// Once the churn stops, B serves alice again.
	time.Sleep(5 * time.Second)
	if _, err := onB.Sign(ctx(t), "alice", signParams("after the churn"), k1); err != nil {
		t.Errorf("B still refuses alice 5 s after the churn stopped: %v", err)
	}
	if ok == 0 || refused > ok {
		t.Errorf("an app making a wallet every %v in alice's bucket on A kept alice unusable on B: %d signed, %d refused", createEvery, ok, refused)
	}
}
