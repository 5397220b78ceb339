package secretd_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/testcluster"
	"github.com/niomon/niomon/secretd"
)

// stalling is a runner (or a proxy in its place) that accepts sessions
// and answers no call, the attestation included: it relays to a real
// runner until the runner has answered the handshake, then swallows
// whatever the client sends.
type stalling struct {
	addr  string
	calls atomic.Int32 // sessions that sent a call after the handshake
}

func stallAfterHandshake(t *testing.T, addr string) *stalling {
	t.Helper()
	st := &stalling{}
	st.addr = secretd.LoopbackServer(t, func(client net.Conn, track func(net.Conn) bool) {
		runner, err := net.Dial("tcp", addr)
		if err != nil || !track(runner) {
			return
		}
		var answered, called atomic.Bool
		done := make(chan struct{})
		go func() { // runner to client, all of it
			defer close(done)
			defer client.Close()
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
		defer func() { runner.Close(); <-done }()
		buf := make([]byte, 4096) // client to runner, until the handshake is answered
		for {
			n, err := client.Read(buf)
			if n > 0 && !answered.Load() {
				if _, err := runner.Write(buf[:n]); err != nil {
					return
				}
			} else if n > 0 && !called.Swap(true) {
				st.calls.Add(1)
			}
			if err != nil {
				return
			}
		}
	})
	return st
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
			cl, err := secretd.Dial(context.Background(), stalled.addr, opts())
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
			cl, err = secretd.DialCluster(context.Background(), []string{c.Addr, stalled.addr}, opts())
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

	t.Run("concurrent dials share one attestation, and then pass the stalled runner by", func(t *testing.T) {
		o := opts()
		o.PoolSize = 8
		before := stalled.calls.Load()
		cl, err := secretd.DialCluster(context.Background(), []string{c.Addr, stalled.addr}, o)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := cl.Ping(context.Background()); err != nil {
					t.Errorf("Ping %d: %v, want it answered by the working runner", i, err)
				}
			}()
		}
		within(t, guard, "8 concurrent Pings", wg.Wait)
		if n := stalled.calls.Load() - before; n != 1 {
			t.Fatalf("the stalled runner was asked for %d attestations, want 1 shared by the 4 slots whose home it is", n)
		}
	})

	t.Run("a call whose deadline ends while another dial holds its slot returns then", func(t *testing.T) {
		o := opts()
		o.DialTimeout = 10 * time.Second // the stalled attestation holds slot 1 that long
		cl, err := secretd.DialCluster(context.Background(), []string{c.Addr, stalled.addr}, o)
		if err != nil {
			t.Fatal(err)
		}
		before := stalled.calls.Load()
		actx, cancel := context.WithCancel(context.Background())
		held := make(chan error, 1)
		go func() { held <- cl.Ping(actx) }() // slot 1, whose home stalls
		secretd.WaitUntil(t, guard, "the stalled runner to be asked for the attestation", func() bool { return stalled.calls.Load() != before })
		short := func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			return cl.Ping(ctx)
		}
		within(t, 3*time.Second, "a Ping on slot 0 with a 0.1 s deadline", func() {
			if err := short(); err != nil {
				t.Errorf("Ping on the working slot: %v", err)
			}
		})
		within(t, 3*time.Second, "a Ping on the held slot 1 with a 0.1 s deadline", func() {
			if err := short(); !errors.Is(err, secretd.ErrConnection) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Ping on the held slot: %v, want ErrConnection naming its deadline's end (context.DeadlineExceeded)", err)
			}
		})
		cancel()
		within(t, 3*time.Second, "the held Ping after its context ended", func() { <-held })
		within(t, 3*time.Second, "Close", func() { cl.Close() })
	})
}

// silent accepts connections and never answers the handshake: a runner
// that hangs before it says anything.
func silent(t *testing.T) (addr string, accepted *atomic.Int32) {
	t.Helper()
	accepted = new(atomic.Int32)
	addr = secretd.LoopbackServer(t, func(nc net.Conn, _ func(net.Conn) bool) {
		accepted.Add(1)
		buf := make([]byte, 4096)
		for {
			if _, err := nc.Read(buf); err != nil {
				return
			}
		}
	})
	return addr, accepted
}

// dialLog counts the dials a client starts, and those it starts after
// the test said it was about to call Close.
type dialLog struct {
	refuse     atomic.Bool // fail the next dial at once
	closing    atomic.Bool
	afterClose sync.Map // address -> *atomic.Int32
}

func (l *dialLog) dialer(ctx context.Context, network, addr string) (net.Conn, error) {
	if l.refuse.CompareAndSwap(true, false) {
		return nil, errors.New("refused by the test")
	}
	if l.closing.Load() {
		n, _ := l.afterClose.LoadOrStore(addr, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (l *dialLog) after() map[string]int32 {
	out := map[string]int32{}
	l.afterClose.Range(func(k, v any) bool { out[k.(string)] = v.(*atomic.Int32).Load(); return true })
	return out
}

// Close ends the work a client does on a caller's behalf: a dial under
// way stops, the calls queued behind it return ErrClosed without dialing,
// and none goes on to another runner. Sessions, for monitoring, answers
// while a dial holds a slot. The dial timeout here is far longer than
// the guards, so waiting it out fails the test.
func TestCloseStopsTheDialUnderWayAndTheCallsQueuedBehindIt(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	const dialTimeout = 30 * time.Second
	const guard = 5 * time.Second
	silentAddr, accepted := silent(t)
	stalled := stallAfterHandshake(t, c.Addr)
	tests := []struct {
		name  string
		addrs []string
		pool  int
		calls int
		// stuck is true once the first call's dial waits on the runner.
		stuck func() bool
	}{
		{
			name: "a runner that never answers the handshake, with 6 calls queued on its one slot",
			// DialCluster's own dial is refused (StartUnreachable).
			addrs: []string{silentAddr},
			pool:  1, calls: 6,
			stuck: func() bool { return accepted.Load() >= 1 },
		},
		{
			name:  "a runner that stalls the attestation, with a working runner beside it",
			addrs: []string{c.Addr, stalled.addr},
			pool:  2, calls: 1,
			stuck: func() bool { return stalled.calls.Load() >= 1 },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &dialLog{}
			o := secretd.Options{Identity: c.Identity, Key: c.Key, Attestation: &secretd.AttestationPolicy{AllowDev: true},
				DialTimeout: dialTimeout, PoolSize: tt.pool, StartUnreachable: true, Dialer: log.dialer}
			log.refuse.Store(len(tt.addrs) == 1)
			var cl *secretd.Client
			within(t, dialTimeout, "DialCluster", func() {
				var err error
				if cl, err = secretd.DialCluster(context.Background(), tt.addrs, o); err != nil {
					t.Errorf("DialCluster: %v", err)
				}
			})
			if cl == nil {
				return
			}
			errs := make(chan error, tt.calls)
			for range tt.calls {
				go func() { errs <- cl.Ping(context.Background()) }()
			}
			secretd.WaitUntil(t, guard, "the first call's dial to wait on the runner", tt.stuck)
			within(t, guard, "Sessions while a dial holds a slot", func() { cl.Sessions() })
			log.closing.Store(true)
			within(t, guard, "Close", func() { cl.Close() })
			within(t, guard, "the calls after Close", func() {
				for i := range tt.calls {
					if err := <-errs; !errors.Is(err, secretd.ErrClosed) {
						t.Errorf("call %d: %v, want ErrClosed", i, err)
					}
				}
			})
			if got := log.after(); len(got) != 0 {
				t.Errorf("dials begun after Close, by address: %v, want none", got)
			}
		})
	}
}
