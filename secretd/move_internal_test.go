package secretd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/internal/wireclient"
)

// fakeRunner completes the handshake as a cluster would and answers
// "echo" with its first parameter; "hang" it receives and never answers.
// It records every request per session, so a test can tell what was
// sent. It is only the wire: what the session moves do to calls is the
// client's own logic, and the real runner tests cover the rest.
type fakeRunner struct {
	addr string
	id   wire.PrivateKey

	mu       sync.Mutex
	sessions map[string]*fakeSession // by the client's address
}

type fakeSession struct {
	mu       sync.Mutex
	received []uint64 // the first parameter of each echo, in order
	hangs    int
	ended    chan struct{}
}

// LoopbackServer serves each connection to a new loopback listener with
// serve, on its own goroutine, until the test ends: then it closes the
// listener, every connection it accepted and every one serve passed to
// track, and waits for the serve calls to return (serve waits for any
// goroutine it starts). For this package's tests, in and out.
func LoopbackServer(t testing.TB, serve func(nc net.Conn, track func(net.Conn) bool)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	closed := false
	// track registers c to be closed at the end; false (and c closed)
	// once the end has begun.
	track := func(c net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			c.Close()
			return false
		}
		conns = append(conns, c)
		return true
	}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		closed = true
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			if !track(nc) {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				serve(nc, track)
			}()
		}
	}()
	return ln.Addr().String()
}

func startFakeRunner(t testing.TB) *fakeRunner {
	t.Helper()
	id, err := wire.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	r := &fakeRunner{id: id, sessions: make(map[string]*fakeSession)}
	r.addr = LoopbackServer(t, func(nc net.Conn, _ func(net.Conn) bool) { r.serve(nc) })
	return r
}

func (r *fakeRunner) serve(nc net.Conn) {
	s, _, err := wire.Server(nc, r.id, func(wire.PublicKey, wire.ClientHello) error { return nil })
	if err != nil {
		return
	}
	fs := &fakeSession{ended: make(chan struct{})}
	defer close(fs.ended)
	from := nc.RemoteAddr().String()
	r.mu.Lock()
	r.sessions[from] = fs
	r.mu.Unlock()
	defer func() { // before ended: a later session may reuse the port
		r.mu.Lock()
		delete(r.sessions, from)
		r.mu.Unlock()
	}()
	mr := wire.NewMessageReader(s)
	for {
		req, err := nextRequest(mr)
		if err != nil {
			return
		}
		if req.Method == "hang" {
			fs.mu.Lock()
			fs.hangs++
			fs.mu.Unlock()
			continue
		}
		var params []uint64
		if err := wire.DecodeParams(req.Params, &params); err != nil || len(params) != 1 {
			return
		}
		fs.mu.Lock()
		fs.received = append(fs.received, params[0])
		fs.mu.Unlock()
		answer, err := wire.EncodeResponse(req.MsgID, nil, params[0])
		if err != nil {
			return
		}
		if _, err := s.Write(answer); err != nil {
			return
		}
	}
}

// nextRequest reads and decodes the next request a fake runner receives.
func nextRequest(mr *wire.MessageReader) (wire.Request, error) {
	item, err := mr.Next()
	if err != nil {
		return wire.Request{}, err
	}
	return wire.DecodeRequest(item)
}

// WaitUntil polls cond every millisecond and fails the test, naming
// what it waited for, if cond is still false after limit. For this
// package's tests, in and out.
func WaitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after %v for %s", limit, what)
		}
	}
}

// session returns the runner's side of the client's session s.
func (r *fakeRunner) session(t *testing.T, s *conn) *fakeSession {
	t.Helper()
	var fs *fakeSession
	WaitUntil(t, 10*time.Second, "the runner's session from "+s.nc.LocalAddr().String(), func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		fs = r.sessions[s.nc.LocalAddr().String()]
		return fs != nil
	})
	return fs
}

func (r *fakeRunner) client(t *testing.T, pool int) *Client {
	t.Helper()
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, r.addr, Options{Identity: r.id.Public().String(), Key: key, PoolSize: pool})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A call that a session move tells errRetired is resent on the new
// session, whatever the method: so errRetired must mean the call was
// never sent. Here retire() races a burst of calls on fresh sessions,
// over and over, and the runner's record of each session is the judge.
func TestARetiredSessionNeverSendsACallItRefuses(t *testing.T) {
	r := startFakeRunner(t)
	c := r.client(t, 1)
	const rounds, callers = 3000, 8
	budget := time.Now().Add(20 * time.Second) // bounded on a slow machine
	refused, answered := 0, 0
	for round := 1; round <= rounds && time.Now().Before(budget); round++ {
		s, err := c.dial(context.Background(), r.addr)
		if err != nil {
			t.Fatal(err)
		}
		fs := r.session(t, s)
		// All start at once; each call is held back a little more than
		// the one before, so that some land before, inside and after
		// retire's check-and-close.
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make([]error, callers)
		got := make([]uint64, callers)
		wg.Add(1 + callers)
		go func() {
			defer wg.Done()
			<-start
			s.retire()
		}()
		for i := range callers {
			go func() {
				defer wg.Done()
				<-start
				spin((round%50 + i) * 100)
				errs[i] = s.call(context.Background(), "echo", []any{uint64(round*callers + i)}, &got[i])
			}()
		}
		close(start)
		wg.Wait()
		<-s.done
		select {
		case <-fs.ended:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: the runner's session did not end after the client closed it", round)
		}
		fs.mu.Lock()
		sent := make(map[uint64]bool, len(fs.received))
		for _, p := range fs.received {
			sent[p] = true
		}
		fs.mu.Unlock()
		for i, err := range errs {
			p := uint64(round*callers + i)
			switch {
			case errors.Is(err, errRetired):
				refused++
				if sent[p] {
					t.Fatalf("round %d: call %d was told errRetired (and would be resent), but the runner received it", round, i)
				}
			case err == nil:
				answered++
				if got[i] != p || !sent[p] {
					t.Fatalf("round %d: call %d answered %d, want %d, received by the runner", round, i, got[i], p)
				}
			default:
				t.Fatalf("round %d: call %d: %v, want an answer or errRetired", round, i, err)
			}
		}
	}
	t.Logf("%d calls answered, %d refused unsent", answered, refused)
	if refused == 0 || answered == 0 {
		t.Fatalf("%d answered, %d refused: the race was not exercised both ways", answered, refused)
	}
}

var spinSink atomic.Int64 // keeps the loop from being optimised away

// spin busy-waits for about n steps.
func spin(n int) {
	x := 0
	for i := range n {
		x += i
	}
	spinSink.Add(int64(x))
}

// clientWithACallPending returns a client of one session to a fake
// runner that has received a call it will never answer, that runner's
// session, and where the call's error will arrive.
func clientWithACallPending(t *testing.T) (*Client, *fakeSession, chan error) {
	t.Helper()
	r := startFakeRunner(t)
	c := r.client(t, 1)
	fs := r.session(t, c.slots[0].c)
	done := make(chan error, 1)
	go func() { done <- c.Call(context.Background(), "hang", []any{}, nil) }()
	WaitUntil(t, 10*time.Second, "the runner to receive the call", func() bool {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		return fs.hangs == 1
	})
	return c, fs, done
}

// Close ends every session, also one moved away from that is still
// waiting for the answer to a call.
func TestCloseEndsARetiredSessionWithACallPending(t *testing.T) {
	c, fs, done := clientWithACallPending(t)
	sl := &c.slots[0]
	sl.acquire(context.Background())
	c.retire(sl.c) // as a move home does
	sl.c = nil
	sl.release()
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("the pending call: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call on the retired session still waits 10 s after Close")
	}
	select {
	case <-fs.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the retired session is still open 10 s after Close")
	}
}

// A runner that completes the handshake and then stops reading fills the
// socket's buffers: the write of a request blocks, and every call queued
// behind it. Each call must still return at its own deadline.
func TestACallWhoseRequestCannotBeWrittenReturnsAtItsDeadline(t *testing.T) {
	id, err := wire.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	addr := LoopbackServer(t, func(nc net.Conn, _ func(net.Conn) bool) {
		if _, _, err := wire.Server(nc, id, func(wire.PublicKey, wire.ClientHello) error { return nil }); err != nil {
			return
		}
		select { // never reads again
		case <-stop:
		case <-time.After(time.Minute):
		}
	})
	t.Cleanup(func() { close(stop) })
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	c, err := Dial(context.Background(), addr, Options{Identity: id.Public().String(), Key: key, PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	call := func(method string, params []any) error {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		return c.Call(ctx, method, params, nil)
	}
	const guard = 3 * time.Second // the deadline is 0.1 s
	big := make([]byte, 900<<10)  // under the largest message
	blocked := make(chan error, 1)
	for i := 0; i < 40; i++ { // the buffers fill after a few
		done := make(chan error, 1)
		go func() { done <- call("echo", []any{big}) }()
		select {
		case err := <-done:
			if err == nil {
				t.Fatalf("call %d: answered by a runner that answers nothing", i)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("call %d: %v, want its deadline named", i, err)
			}
		case <-time.After(guard):
			go func() { blocked <- <-done }()
			small := make(chan error, 1)
			go func() { small <- call("system_ping", nil) }()
			select {
			case <-small:
			case <-time.After(guard):
				t.Error("a ping with a 0.1 s deadline, queued behind the blocked write, still waits after 3 s")
			}
			t.Fatalf("call %d with a 0.1 s deadline still waits after 3 s: its write blocks", i)
		}
	}
}

// ErrClosed alone means the call was not sent. A call sent before Close
// may have run: it matches ErrConnection too, so a caller that repeats
// unsent calls does not repeat it.
func TestCloseTellsASentCallThatItMayHaveRun(t *testing.T) {
	c, _, done := clientWithACallPending(t)
	c.Close()
	tests := []struct {
		name           string
		err            func() error
		wantConnection bool
	}{
		{"a call sent before Close", func() error {
			select {
			case err := <-done:
				return err
			case <-time.After(10 * time.Second):
				return errors.New("still waiting 10 s after Close")
			}
		}, true},
		{"a call made after Close", func() error { return c.Call(context.Background(), "hang", []any{}, nil) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			if !errors.Is(err, ErrClosed) || errors.Is(err, ErrConnection) != tt.wantConnection {
				t.Fatalf("%v: matches ErrClosed %v, ErrConnection %v; want true, %v",
					err, errors.Is(err, ErrClosed), errors.Is(err, ErrConnection), tt.wantConnection)
			}
		})
	}
}

// watchedConn records whether the client closed it.
type watchedConn struct {
	net.Conn
	closed atomic.Bool
}

func (w *watchedConn) Close() error { w.closed.Store(true); return w.Conn.Close() }

// A move home runs on the client's own goroutine. Close returns only once
// it has ended, so that no dial and no session outlives Close, even with
// a Dialer slow to honour its context.
func TestCloseWaitsForAMoveHomeUnderWay(t *testing.T) {
	r := startFakeRunner(t)
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	var block atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	var moved atomic.Pointer[watchedConn]
	dialer := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if block.CompareAndSwap(true, false) {
			close(entered)
			<-release // ignores ctx until the test lets it go
			var d net.Dialer
			nc, err := d.Dial(network, addr)
			if err != nil {
				return nil, err
			}
			w := &watchedConn{Conn: nc}
			moved.Store(w)
			return w, nil
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	// Two addresses of one runner: slot 1's home is the second.
	c, err := DialCluster(context.Background(), []string{r.addr, r.addr},
		Options{Identity: r.id.Public().String(), Key: key, PoolSize: 2, Dialer: dialer})
	if err != nil {
		t.Fatal(err)
	}
	away, err := c.dialEndpoint(context.Background(), c.ends[0])
	if err != nil {
		t.Fatal(err)
	}
	sl := &c.slots[1]
	sl.acquire(context.Background())
	sl.set(away, 0) // as after a failover
	sl.release()
	block.Store(true)
	c.next.Store(0) // the next session is slot 1's
	if _, err := c.session(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no move home began")
	}
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	select {
	case <-closed:
		close(release)
		t.Fatal("Close returned while a move home was still dialing")
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close still waits 10 s after the move's dial returned")
	}
	if w := moved.Load(); w == nil || !w.closed.Load() {
		t.Fatalf("the move's connection: %v, want it made and closed when Close returns", w)
	}
}

// One caller's deadline ends only that call: calls with short deadlines,
// racing calls with none on the same sessions of a healthy runner, must
// not break those sessions for the others.
func TestAShortDeadlineEndsOnlyItsOwnCall(t *testing.T) {
	tests := []struct {
		name     string
		pool     int
		min, max time.Duration
	}{
		{"one session, deadlines of 0.2 to 2 ms", 1, 200 * time.Microsecond, 2 * time.Millisecond},
		{"four sessions, deadlines of 0.2 to 2 ms", 4, 200 * time.Microsecond, 2 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startFakeRunner(t)
			c := r.client(t, tt.pool)
			var calls, failed atomic.Int64
			var first atomic.Value
			end := time.Now().Add(time.Second)
			var wg sync.WaitGroup
			for g := range 8 { // short deadlines
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; time.Now().Before(end); i++ {
						d := tt.min + time.Duration((g*7919+i*104729)%int(tt.max-tt.min))
						ctx, cancel := context.WithTimeout(context.Background(), d)
						_ = c.Call(ctx, "echo", []any{uint64(1)}, nil)
						cancel()
					}
				}()
			}
			for range 4 { // no deadline
				wg.Add(1)
				go func() {
					defer wg.Done()
					for time.Now().Before(end) {
						var out uint64
						calls.Add(1)
						if err := c.Call(context.Background(), "echo", []any{uint64(2)}, &out); err != nil || out != 2 {
							failed.Add(1)
							first.CompareAndSwap(nil, fmt.Sprint(out, err))
						}
					}
				}()
			}
			wg.Wait()
			if failed.Load() != 0 {
				t.Fatalf("%d of %d calls with no deadline failed beside calls with short ones; first: %v", failed.Load(), calls.Load(), first.Load())
			}
		})
	}
}

// A call that an earlier attempt sent, and that Close ends while it is
// retried, may have run: it must not read as plain ErrClosed.
func TestARetriedCallEndedByCloseStillSaysItMayHaveRun(t *testing.T) {
	id, err := wire.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	var received atomic.Int32
	addr := LoopbackServer(t, func(nc net.Conn, _ func(net.Conn) bool) {
		s, _, err := wire.Server(nc, id, func(wire.PublicKey, wire.ClientHello) error { return nil })
		if err != nil {
			return
		}
		if _, err := wire.NewMessageReader(s).Next(); err == nil {
			received.Add(1) // the request arrived; then the runner dies
		}
	})
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	var dials atomic.Int32
	retrying := make(chan struct{})
	dialer := func(ctx context.Context, network, a string) (net.Conn, error) {
		if dials.Add(1) == 2 { // the retry's dial waits until Close
			close(retrying)
			<-ctx.Done()
			return nil, ctx.Err()
		}
		var d net.Dialer
		return d.DialContext(ctx, network, a)
	}
	c, err := Dial(context.Background(), addr, Options{Identity: id.Public().String(), Key: key, PoolSize: 1, Dialer: dialer})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Call(context.Background(), "system_ping", nil, nil) }() // repeatable: retried
	select {
	case <-retrying:
	case <-time.After(10 * time.Second):
		t.Fatal("the call was not retried")
	}
	c.Close()
	err = <-done
	if received.Load() != 1 || !errors.Is(err, ErrClosed) || !errors.Is(err, ErrConnection) {
		t.Fatalf("runner received %d; Call: %v (ErrClosed %v, ErrConnection %v), want 1 received and both",
			received.Load(), err, errors.Is(err, ErrClosed), errors.Is(err, ErrConnection))
	}
}

// BenchmarkCall measures what a deadline costs a call: a call whose
// context can end writes its request on its own goroutine, so that it can
// return at that end; one whose context cannot writes in line. Compare
// the two sub-benchmarks of one run (a fake runner over loopback: the
// client's overhead, not an enclave's work).
func BenchmarkCall(b *testing.B) {
	r := startFakeRunner(b)
	key, err := GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	c, err := Dial(context.Background(), r.addr, Options{Identity: r.id.Public().String(), Key: key, PoolSize: 4})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for _, bb := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"no deadline", func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }},
		{"with a deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), time.Minute)
		}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ctx, cancel := bb.ctx()
					if err := c.Call(ctx, "echo", []any{uint64(1)}, nil); err != nil {
						b.Error(err)
					}
					cancel()
				}
			})
		})
	}
}

// dialTest dials addr as a fresh client key with o (its Identity and Key
// set here) and closes the client when the test ends.
func dialTest(t *testing.T, identity, addr string, o Options) *Client {
	t.Helper()
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	o.Identity, o.Key = identity, key
	c, err := Dial(context.Background(), addr, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// pausingRunner completes the handshake, reads nothing until resume is
// closed, and then records the method of every request it receives.
type pausingRunner struct {
	addr   string
	id     wire.PrivateKey
	resume chan struct{}

	mu  sync.Mutex
	got map[string]bool
}

func startPausingRunner(t *testing.T) *pausingRunner {
	t.Helper()
	id, err := wire.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	r := &pausingRunner{id: id, resume: make(chan struct{}), got: map[string]bool{}}
	stop := make(chan struct{})
	r.addr = LoopbackServer(t, func(nc net.Conn, _ func(net.Conn) bool) {
		s, _, err := wire.Server(nc, id, func(wire.PublicKey, wire.ClientHello) error { return nil })
		if err != nil {
			return
		}
		select {
		case <-r.resume:
		case <-stop:
			return
		}
		mr := wire.NewMessageReader(s)
		for {
			req, err := nextRequest(mr)
			if err != nil {
				return
			}
			r.mu.Lock()
			r.got[req.Method] = true
			r.mu.Unlock()
		}
	})
	t.Cleanup(func() { close(stop) })
	return r
}

func (r *pausingRunner) received(method string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[method]
}

// fill sends large requests with 0.1 s deadlines until one's write
// blocks: the runner's socket is full.
func fill(t *testing.T, c *Client) {
	t.Helper()
	big := make([]byte, 900<<10)
	for i := range 40 {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err := c.Call(ctx, fmt.Sprint("fill-", i), []any{big}, nil)
		cancel()
		if errors.Is(err, ErrConnection) && errors.Is(err, context.DeadlineExceeded) {
			return // abandoned in the socket
		}
	}
	t.Fatal("no write blocked after 40 large requests")
}

// While a runner does not take a write, the calls queued behind it send
// nothing: one whose context ends while it waits says so (its context's
// error, not ErrConnection), never reaches the runner later, and holds no
// goroutine or request in memory.
func TestACallQueuedBehindABlockedWriteSendsNothing(t *testing.T) {
	r := startPausingRunner(t)
	c := dialTest(t, r.id.Public().String(), r.addr, Options{PoolSize: 1, DialTimeout: 3 * time.Second})
	before := runtime.NumGoroutine()
	fill(t, c)
	var mu sync.Mutex
	var unsent []string
	var ambiguous int
	payload := make([]byte, 4<<10)
	end := time.Now().Add(300 * time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(end); i++ {
				m := fmt.Sprintf("queued-%d-%d", g, i)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Millisecond)
				err := c.Call(ctx, m, []any{payload}, nil)
				cancel()
				mu.Lock()
				if errors.Is(err, errNotSent) {
					if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrConnection) {
						t.Errorf("%s: %v; an unsent call names its deadline and not ErrConnection", m, err)
					}
					unsent = append(unsent, m)
				} else {
					ambiguous++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if g := runtime.NumGoroutine(); g > before+30 {
		t.Errorf("%d goroutines after %d queued calls, %d before: abandoned calls hold goroutines", g, len(unsent)+ambiguous, before)
	}
	if len(unsent) == 0 {
		t.Fatalf("none of %d calls queued behind a blocked write said it was not sent", ambiguous)
	}
	close(r.resume)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = c.Call(ctx, "marker", []any{}, nil) // written after all the others
	WaitUntil(t, 5*time.Second, "the runner to receive the marker", func() bool { return r.received("marker") })
	for _, m := range unsent {
		if r.received(m) {
			t.Fatalf("%s was told not sent and reached the runner", m)
		}
	}
}

// A runner that stops answering, whether its socket fills or not, ends
// the session after SilenceTimeout, whatever the waiting calls allow
// (a minute, or no deadline at all): they fail with ErrConnection.
func TestARunnerThatStopsAnsweringEndsTheSessionAfterTheSilenceTimeout(t *testing.T) {
	cases := []struct {
		name  string
		calls int
		size  int
	}{
		{"its socket fills and a write blocks", 40, 900 << 10},
		{"its requests fit in the socket", 1, 16},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := startPausingRunner(t)
			c := dialTest(t, r.id.Public().String(), r.addr, Options{PoolSize: 1, SilenceTimeout: 300 * time.Millisecond})
			s := c.slots[0].c
			payload := make([]byte, tc.size)
			errs := make(chan error, tc.calls)
			for i := range tc.calls {
				go func() {
					ctx := context.Background()
					if i%2 == 1 {
						var cancel context.CancelFunc
						ctx, cancel = context.WithTimeout(ctx, time.Minute)
						defer cancel()
					}
					errs <- s.call(ctx, fmt.Sprint("call-", i), []any{payload}, nil)
				}()
			}
			guard := time.After(10 * time.Second)
			for i := range tc.calls {
				select {
				case err := <-errs:
					if !errors.Is(err, ErrConnection) || errors.Is(err, context.DeadlineExceeded) {
						t.Fatalf("call %d of %d: %v; want ErrConnection from the closed session", i+1, tc.calls, err)
					}
				case <-guard:
					t.Fatalf("%d of %d calls still wait after 10 s on a runner that answers nothing; the silence timeout is 0.3 s", tc.calls-i, tc.calls)
				}
			}
			if s.alive() {
				t.Fatal("the session is still open after its runner went silent")
			}
		})
	}
}

// A runner that keeps talking without answering a call is caught too:
// one that answers others but never this one (within twice
// SilenceTimeout), one that repeats an old answer, and one that answers
// a request never sent (at once).
func TestARunnerThatFeignsLifeIsStillCaught(t *testing.T) {
	feign := func(t *testing.T, later uint64) (identity, addr string) {
		id, err := wire.GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		addr = LoopbackServer(t, func(nc net.Conn, _ func(net.Conn) bool) {
			s, _, err := wire.Server(nc, id, func(wire.PublicKey, wire.ClientHello) error { return nil })
			if err != nil {
				return
			}
			mr := wire.NewMessageReader(s)
			first, err := nextRequest(mr)
			if err != nil {
				return
			}
			go func() { // read the rest, answer nothing
				for {
					if _, err := mr.Next(); err != nil {
						return
					}
				}
			}()
			// Answer the first request, then keep sending the answer
			// to later (0: the first again), about every 25 ms.
			msgid := first.MsgID
			for range 200 {
				b, err := wire.EncodeResponse(msgid, nil, uint64(0))
				if err != nil {
					return
				}
				if _, err := s.Write(b); err != nil {
					return
				}
				if later != 0 {
					msgid = later
				}
				time.Sleep(25 * time.Millisecond)
			}
		})
		return id.Public().String(), addr
	}
	cases := []struct {
		name string
		addr func(t *testing.T) (identity, addr string)
		want string
	}{
		{"it answers other calls but never this one", func(t *testing.T) (string, string) {
			r := startFakeRunner(t)
			return r.id.Public().String(), r.addr
		}, "unanswered"},
		{"it repeats an old answer and answers nothing new", func(t *testing.T) (string, string) {
			return feign(t, 0)
		}, "said nothing"},
		{"it answers a request never sent", func(t *testing.T) (string, string) {
			return feign(t, 1<<60)
		}, "never sent"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			identity, addr := tc.addr(t)
			c := dialTest(t, identity, addr, Options{PoolSize: 1, SilenceTimeout: 300 * time.Millisecond})
			s := c.slots[0].c
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.call(ctx, "first", []any{uint64(0)}, nil); err != nil {
				t.Fatalf("the first call: %v", err)
			}
			stop := make(chan struct{})
			defer close(stop)
			go func() { // others' calls, answered by the fake runner
				for i := 0; i < 250; i++ {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
					_ = s.call(ctx, "m", []any{uint64(i)}, nil)
					cancel()
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			}()
			done := make(chan error, 1)
			go func() { done <- s.call(context.Background(), "hang", []any{uint64(1)}, nil) }()
			select {
			case err := <-done:
				if !errors.Is(err, ErrConnection) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("the call: %v; want ErrConnection saying %q", err, tc.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("a call with no deadline still waits after 5 s; the silence timeout is 0.3 s")
			}
		})
	}
}

// busyRunner serves like the enclave under load: it reads a request only
// while fewer than 32 run, and answers each after work. pushedBack counts
// the times it stopped reading for want of room.
type busyRunner struct {
	addr       string
	id         wire.PrivateKey
	answered   atomic.Int64
	pushedBack atomic.Int64
}

func startBusyRunner(t *testing.T, work time.Duration) *busyRunner {
	t.Helper()
	id, err := wire.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	r := &busyRunner{id: id}
	r.addr = LoopbackServer(t, func(nc net.Conn, _ func(net.Conn) bool) {
		s, _, err := wire.Server(nc, id, func(wire.PublicKey, wire.ClientHello) error { return nil })
		if err != nil {
			return
		}
		room := make(chan struct{}, 32)
		mr := wire.NewMessageReader(s)
		for {
			select {
			case room <- struct{}{}:
			default:
				r.pushedBack.Add(1)
				room <- struct{}{}
			}
			req, err := nextRequest(mr)
			if err != nil {
				return
			}
			go func() {
				defer func() { <-room }()
				time.Sleep(work)
				answer, err := wire.EncodeResponse(req.MsgID, nil, true)
				if err != nil {
					return
				}
				if _, err := s.Write(answer); err == nil {
					r.answered.Add(1)
				}
			}()
		}
	})
	return r
}

// A runner that stops reading because it is busy, and answers as it
// works, is not a stalled one: its session stays up, and every call with
// no deadline gets its answer, though each write waits longer than the
// dial timeout.
func TestARunnerThatPushesBackKeepsItsSession(t *testing.T) {
	r := startBusyRunner(t, 600*time.Millisecond)
	c := dialTest(t, r.id.Public().String(), r.addr, Options{PoolSize: 1, DialTimeout: 300 * time.Millisecond, SilenceTimeout: 2 * time.Second})
	const calls = 100
	payload := make([]byte, 128<<10)
	errs := make(chan error, calls)
	for i := range calls {
		go func() { errs <- c.Call(context.Background(), fmt.Sprint("work-", i), []any{payload}, nil) }()
	}
	guard := time.After(30 * time.Second)
	for i := range calls {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatalf("call %d of %d to a busy runner: %v (the runner answered %d)", i+1, calls, err, r.answered.Load())
			}
		case <-guard:
			t.Fatalf("%d of %d calls still wait after 30 s", calls-i, calls)
		}
	}
	if r.pushedBack.Load() == 0 {
		t.Fatal("the runner never stopped reading: the test did not push back")
	}
}

// One caller's deadline ending during a dial says nothing of the runner:
// the endpoint stays up for the calls after it.
func TestAShortDeadlineDuringADialLeavesTheEndpointUp(t *testing.T) {
	r := startFakeRunner(t)
	slow := func(ctx context.Context, network, addr string) (net.Conn, error) {
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	c := dialTest(t, r.id.Public().String(), r.addr, Options{PoolSize: 1, Dialer: slow})
	c.slots[0].c.close(ErrConnection) // the next call dials
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	err := c.Call(ctx, "m", []any{uint64(1)}, nil)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a 5 ms call during a 50 ms dial: %v, want its deadline", err)
	}
	if !c.ends[0].up(time.Now()) {
		t.Fatal("one caller's deadline marked a working runner down")
	}
	var got uint64
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Call(ctx, "m", []any{uint64(2)}, &got); err != nil || got != 2 {
		t.Fatalf("the next call: %d, %v", got, err)
	}
}

// A call whose context has ended is never written, even when the write
// turn is free and select could pick either.
func TestAWriteWhoseContextHasEndedSendsNothing(t *testing.T) {
	r := startFakeRunner(t)
	c := r.client(t, 1)
	s := c.slots[0].c
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 200 {
		req, err := wireclient.EncodeRequest(uint64(1000+i), "m", []any{uint64(1000 + i)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.write(ended, uint64(1000+i), make(chan result, 1), req); !errors.Is(err, errNotSent) {
			t.Fatalf("write %d with an ended context: %v, want errNotSent", i, err)
		}
	}
	var got uint64
	ctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if err := c.Call(ctx, "m", []any{uint64(7)}, &got); err != nil || got != 7 {
		t.Fatalf("marker call: %d, %v", got, err)
	}
	fs := r.session(t, s)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.received) != 1 || fs.received[0] != 7 {
		t.Fatalf("the runner received %v; want only the marker 7", fs.received)
	}
}

// After an attempt that may have run, the error of a retry that was not
// sent keeps saying the call may have run; an answer stands as it is.
func TestAfterASentAttemptTheErrorSaysTheCallMayHaveRun(t *testing.T) {
	sent := fmt.Errorf("%w: EOF", ErrConnection)
	answer := &Error{Code: wire.CodeNotFound, Message: "no such wallet"}
	cases := []struct {
		name        string
		sent, err   error
		mayHaveRun  bool
		alsoMatches error
	}{
		{"the retry was closed unsent", sent, ErrClosed, true, ErrClosed},
		{"the retry's deadline ended before its turn to write", sent, fmt.Errorf("%w: %w", errNotSent, context.DeadlineExceeded), true, context.DeadlineExceeded},
		{"the retry's context ended before it was sent", sent, context.Canceled, true, context.Canceled},
		{"the retry was answered", sent, answer, false, ErrNotFound},
		{"nothing was sent before", nil, ErrClosed, false, ErrClosed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := afterSent(tc.sent, tc.err)
			if errors.Is(got, ErrConnection) != tc.mayHaveRun || !errors.Is(got, tc.alsoMatches) {
				t.Fatalf("%v: ErrConnection %v, want %v; matches %v: %v", got, errors.Is(got, ErrConnection), tc.mayHaveRun, tc.alsoMatches, errors.Is(got, tc.alsoMatches))
			}
			if tc.mayHaveRun && strings.HasPrefix(got.Error(), errNotSent.Error()) {
				t.Fatalf("%q starts by saying the call was not sent", got)
			}
		})
	}
}
