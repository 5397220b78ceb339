package secretd_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/testcluster"
	"github.com/niomon/niomon/secretd"
)

// stallAfterHandshake relays to the runner at addr until the runner has
// answered the handshake, then swallows whatever the client sends: a
// runner (or a proxy in its place) that accepts sessions and answers no
// call, the attestation included.
func stallAfterHandshake(t *testing.T, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var conns sync.Map
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			runner, err := net.Dial("tcp", addr)
			if err != nil {
				client.Close()
				continue
			}
			conns.Store(client, true)
			conns.Store(runner, true)
			var answered atomic.Bool
			wg.Add(2)
			go func() { // runner to client, all of it
				defer wg.Done()
				buf := make([]byte, 4096)
				for {
					n, err := runner.Read(buf)
					if n > 0 {
						answered.Store(true)
						if _, err := client.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
			go func() { // client to runner, until the handshake is answered
				defer wg.Done()
				buf := make([]byte, 4096)
				for {
					n, err := client.Read(buf)
					if n > 0 && !answered.Load() {
						if _, err := runner.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// within runs f and fails the test if it has not returned after limit: a
// guard against a hang, far above the bound the client should keep.
func within(t *testing.T, limit time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("%s still waits after %v", what, limit)
	}
}

// The attestation runs on a session's first call, under the caller's
// context, which may have no deadline (a server's background work). A
// runner that completes the handshake and then answers nothing must cost
// a bounded wait, not hold the endpoint, and so every later call and
// Close, for good.
func TestARunnerThatStallsTheAttestationCostsOnlyTheDialTimeout(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	stalled := stallAfterHandshake(t, c.Addr)
	opts := func() secretd.Options {
		return secretd.Options{Identity: c.Identity, Key: c.Key, Attestation: &secretd.AttestationPolicy{AllowDev: true},
			DialTimeout: 300 * time.Millisecond, PoolSize: 2}
	}
	const guard = 20 * time.Second // the dial timeout is 0.3 s

	t.Run("Dial to it alone fails instead of waiting", func(t *testing.T) {
		within(t, guard, "Dial", func() {
			cl, err := secretd.Dial(context.Background(), stalled, opts())
			if err == nil {
				cl.Close()
				t.Error("Dial: got a client, want an error")
			}
		})
	})

	t.Run("calls whose home stalls go to the other runner, and Close returns", func(t *testing.T) {
		var cl *secretd.Client
		within(t, guard, "DialCluster", func() {
			var err error
			cl, err = secretd.DialCluster(context.Background(), []string{c.Addr, stalled}, opts())
			if err != nil {
				t.Errorf("DialCluster: %v", err)
			}
		})
		if cl == nil {
			return
		}
		// With two slots, the calls take turns; the second slot's home
		// is the stalled runner.
		for i := range 4 {
			within(t, guard, "Ping", func() {
				if err := cl.Ping(context.Background()); err != nil {
					t.Errorf("Ping %d: %v, want it answered by the working runner", i, err)
				}
			})
		}
		within(t, guard, "Close", func() { cl.Close() })
	})
}
