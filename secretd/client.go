// Package secretd is the Go client for Secretd, Niomon's key-management
// enclave. It speaks Secretd protocol v1, wire-compatible with Niomon's
// published client: Noise_IKpsk2_25519_AESGCM_SHA256 to the enclave's
// cluster identity, then CBOR msgpack-RPC.
//
//	key, _ := secretd.LoadKeyFile("app.key")
//	c, err := secretd.Dial(ctx, "127.0.0.1:9000", secretd.Options{
//		Identity: "base64 cluster identity",
//		Key:      key,
//	})
//	oid, err := c.GenerateWallet(ctx, "user-1", 24, nil, "")
//	xpub, err := c.ExtendedPublicKey(ctx, oid, "m/44'/60'/0'/0/0")
//
// A Client keeps a pool of sessions and is safe for concurrent use. Every
// call takes a context; a call whose context ends returns at once and its
// late answer is dropped.
package secretd

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/internal/wireclient"
)

// Options configure a Client.
type Options struct {
	// Identity is the cluster identity, the enclave's X25519 public key in
	// standard base64. Required: the handshake authenticates the enclave
	// against it.
	Identity string
	// Key is this client's static_key credential; its public key must be
	// on the enclave's allow-list.
	Key Key
	// PoolSize is the number of sessions (default 4).
	PoolSize int
	// DialTimeout bounds connecting plus the handshake (default 5s).
	DialTimeout time.Duration
	// SilenceTimeout bounds how long a session may go without a reply
	// while its runner owes one (default 60s). Past it the session closes
	// and its calls fail with ErrConnection, also those with no deadline.
	// The enclave answers every request it reads within 30s, and stops
	// reading only while it runs 32 from one session, so keep it above
	// 30s unless the runner is known to answer faster.
	SilenceTimeout time.Duration
	// Attestation, when set, is checked on the first session before the
	// client uses the identity; Dial fails on a mismatch.
	Attestation *AttestationPolicy
	// Dialer, when set, replaces net.Dialer (for tests and proxies).
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
	// StartUnreachable makes DialCluster return a client even when no
	// address answers: its calls fail with ErrConnection until one does,
	// as after a later outage. A refusal or a failed attestation is still
	// an error at once. For servers that must start before their cluster.
	StartUnreachable bool
}

// Client is a pool of Secretd sessions to one cluster, over one or more
// runner addresses (replicas of the same enclave cluster).
type Client struct {
	opts     Options
	identity wire.PublicKey
	ends     []*endpoint

	slots  []slot
	next   atomic.Uint64
	closed atomic.Bool
	// life ends at Close: it bounds the work the client does on its own
	// (attestations, moves home) besides the callers' contexts.
	life context.Context
	end  context.CancelFunc
	// work counts the goroutines the client runs on its own (moves home,
	// attestations): Close waits for them, so that none dials or leaves
	// a session open after it returns.
	work sync.WaitGroup

	keyMu sync.Mutex
	rk    ed25519.PublicKey // the cluster's receipt key, once known

	// retiring holds the sessions moved away from that still have calls
	// pending: Close closes them too.
	retiringMu sync.Mutex
	retiring   map[*conn]struct{}

	pins pins // wallet instances and the highest versions seen
}

// endpoint is one runner address and what the client knows of it.
type endpoint struct {
	addr string

	mu        sync.Mutex
	attested  bool      // its enclave passed the attestation policy
	attesting *attempt  // the attestation under way, if any
	downTill  time.Time // skip it until then after a failure
}

// downFor is how long an endpoint that failed is skipped.
const downFor = 2 * time.Second

// A slot's session goes to its home endpoint (the slot's index modulo
// the number of addresses) while that one is up; after a failover it
// serves from another, and the client moves it home again in the
// background once home answers, so that a recovered replica takes its
// share of the load back.
type slot struct {
	// lock is held across a dial: a channel, so that a caller whose
	// context ends stops waiting for it.
	lock   chan struct{}
	c      *conn
	at     int       // the endpoint c goes to
	moving bool      // a dial home is under way
	tried  time.Time // when the last dial home started

	// view guards c and at for a reader that must not wait for a dial
	// (Sessions). Writers hold lock too, so readers under lock need not
	// take it.
	view sync.Mutex
}

// set puts s, which goes to endpoint at, in the slot; the caller holds
// sl.lock.
func (sl *slot) set(s *conn, at int) {
	sl.view.Lock()
	sl.c, sl.at = s, at
	sl.view.Unlock()
}

func (sl *slot) acquire(ctx context.Context) error {
	select {
	case sl.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (sl *slot) release() { <-sl.lock }

// rebalanceEvery is how often a slot away from home tries to go back.
const rebalanceEvery = 5 * time.Second

// Dial connects to a Secretd runner at addr, runs the handshake, and (with
// an attestation policy) verifies the enclave before returning.
func Dial(ctx context.Context, addr string, opts Options) (*Client, error) {
	return DialCluster(ctx, []string{addr}, opts)
}

// DialCluster connects to a cluster served by several runners. Sessions
// are spread over the addresses; when one fails, new sessions go to the
// others, and calls that are safe to repeat (reads of public data) are
// retried there. A call that may have taken effect (a signature, a
// creation, an export, a policy change) returns ErrConnection instead:
// the caller decides, and a signature needs a fresh stamp anyway.
// Every enclave behind the addresses is checked against the attestation
// policy on its first session.
func DialCluster(ctx context.Context, addrs []string, opts Options) (*Client, error) {
	id, err := wire.ParsePublicKey(opts.Identity)
	if err != nil {
		return nil, fmt.Errorf("secretd: cluster identity: %w", err)
	}
	if opts.Key.k.IsZero() {
		return nil, errors.New("secretd: a client key is required")
	}
	if len(addrs) == 0 {
		return nil, errors.New("secretd: no address")
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = 4
	}
	opts.PoolSize = max(opts.PoolSize, len(addrs))
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.SilenceTimeout <= 0 {
		opts.SilenceTimeout = time.Minute
	}
	if opts.Dialer == nil {
		var d net.Dialer
		opts.Dialer = d.DialContext
	}
	c := &Client{opts: opts, identity: id, slots: make([]slot, opts.PoolSize), retiring: make(map[*conn]struct{})}
	for i := range c.slots {
		c.slots[i].lock = make(chan struct{}, 1)
	}
	c.life, c.end = context.WithCancel(context.Background())
	for _, a := range addrs {
		c.ends = append(c.ends, &endpoint{addr: a})
	}
	// One working session proves the identity and the key; the others
	// are dialed on first use.
	var firstErr error
	for i := range c.ends {
		s, err := c.dialEndpoint(ctx, c.ends[i])
		if err == nil {
			c.slots[i%len(c.slots)].set(s, i)
			return c, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		var r *RefusedError
		if errors.As(err, &r) || errors.Is(err, ErrAttestation) {
			c.Close()
			return nil, err
		}
	}
	if opts.StartUnreachable && errors.Is(firstErr, ErrConnection) && ctx.Err() == nil {
		return c, nil
	}
	c.Close()
	return nil, firstErr
}

// attestSession asks the enclave for a fresh attestation document over a
// session and checks it names this client's identity. The handshake proved
// the enclave holds the identity's private key; the document proves that
// key lives in an enclave with the expected measurements.
func (c *Client) attestSession(ctx context.Context, s *conn) error {
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	var doc []byte
	if err := s.call(ctx, "system_attest", []any{nonce}, &doc); err != nil {
		var answered *Error
		if !errors.As(err, &answered) && !errors.Is(err, ErrConnection) {
			// No answer in time: the runner, not the enclave, failed.
			err = fmt.Errorf("%w: %w", ErrConnection, err)
		}
		return fmt.Errorf("secretd: attestation: %w", err)
	}
	rk, err := VerifyAttestation(c.opts.Attestation, doc, nonce, c.identity.Bytes())
	if err != nil {
		return err
	}
	c.keyMu.Lock()
	defer c.keyMu.Unlock()
	if c.rk != nil && !c.rk.Equal(rk) {
		return fmt.Errorf("secretd: attestation: %w: replicas disagree on the receipt key", ErrAttestation)
	}
	c.rk = rk
	return nil
}

// VerifyAttestation checks an enclave's attestation document against p:
// made for nonce, naming the cluster identity, from an enclave p accepts.
// It returns the cluster's receipt key that the document binds: the key
// that checks receipts, import keys and address statements. A device
// that knows the enclave's measurements can trust that key without
// trusting the server that relayed the document.
func VerifyAttestation(p *AttestationPolicy, doc, nonce, identity []byte) (ed25519.PublicKey, error) {
	if len(identity) != len(wire.PublicKey{}) {
		return nil, fmt.Errorf("secretd: attestation: %w: the cluster identity is %d bytes, want 32", ErrAttestation, len(identity))
	}
	d, err := p.verify(doc, nonce, wire.PublicKey(identity))
	if err != nil {
		return nil, fmt.Errorf("secretd: attestation: %w", err)
	}
	// The document's user data carries the cluster's other public keys.
	var keys api.AttestedKeys
	if err := wire.UnmarshalResult(d.UserData, &keys); err != nil || len(keys.ReceiptKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("secretd: attestation: %w: no receipt key in the document", ErrAttestation)
	}
	if p.DRK != nil && !bytes.Equal(p.DRK, keys.DRK) {
		return nil, fmt.Errorf("secretd: attestation: %w: the cluster's DRK is %x, not the pinned %x", ErrAttestation, keys.DRK, p.DRK)
	}
	return keys.ReceiptKey, nil
}

// dialEndpoint opens a session to e, attesting its enclave on the first.
func (c *Client) dialEndpoint(ctx context.Context, e *endpoint) (*conn, error) {
	s, err := c.dial(ctx, e.addr)
	if err != nil {
		if ctx.Err() == nil { // not this caller's own deadline
			e.markDown()
		}
		return nil, err
	}
	if c.opts.Attestation == nil {
		return s, nil
	}
	// One attestation per endpoint at a time, bounded by DialTimeout and
	// not by any one caller's context; concurrent dials share its outcome
	// and each waits only as long as its own context allows.
	e.mu.Lock()
	if e.attested {
		e.mu.Unlock()
		return s, nil
	}
	a := e.attesting
	if a == nil {
		a = &attempt{done: make(chan struct{}), s: s}
		e.attesting = a
		c.goWork(func() { c.attest(e, a) })
	}
	e.mu.Unlock()
	select {
	case <-a.done:
	case <-ctx.Done():
		c.goWork(func() { <-a.done; s.close(ErrConnection) })
		return nil, fmt.Errorf("%w: waiting for the enclave's attestation: %w", ErrConnection, ctx.Err())
	}
	if a.err != nil {
		s.close(a.err) // a no-op if the attempt ran over s: it closed it
		return nil, a.err
	}
	return s, nil
}

// attempt is one attestation of an endpoint, shared by the dials that
// wait for it.
type attempt struct {
	done chan struct{}
	s    *conn // the session it ran over
	err  error
}

// attest runs attempt a over s and publishes its outcome. A failure marks
// the endpoint down, so that the next dials go elsewhere for a while
// rather than each paying for a stalled runner again.
func (c *Client) attest(e *endpoint, a *attempt) {
	s := a.s
	ctx, cancel := context.WithTimeout(c.life, c.opts.DialTimeout)
	err := c.attestSession(ctx, s)
	cancel()
	e.mu.Lock()
	e.attesting, e.attested, a.err = nil, err == nil, err
	e.mu.Unlock()
	if err != nil {
		e.markDown()
		s.close(err)
	}
	close(a.done)
}

func (e *endpoint) markDown() {
	e.mu.Lock()
	e.downTill = time.Now().Add(downFor)
	e.mu.Unlock()
}

func (e *endpoint) up(now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return now.After(e.downTill)
}

func (c *Client) dial(ctx context.Context, addr string) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.DialTimeout)
	defer cancel()
	defer context.AfterFunc(c.life, cancel)() // Close stops it too
	nc, err := c.opts.Dialer(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: dialing: %w", ErrConnection, ctx.Err())
		}
		return nil, fmt.Errorf("%w: %w", ErrConnection, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	hello := wire.ClientHello{Timestamp: uint64(time.Now().UnixNano()), AuthMethod: wire.AuthStaticKey}
	s, err := wireclient.Client(nc, c.identity, c.opts.Key.k, hello)
	if !stop() && err == nil {
		// The deadline is set, or about to be, on a session that is
		// otherwise good: it would die at once.
		err = ctx.Err()
	}
	if err != nil {
		nc.Close()
		var r *wire.Refusal
		if errors.As(err, &r) {
			phrase, announced := wire.SplitRefusal(r.Reason)
			return nil, &RefusedError{Reason: phrase, Announced: announced}
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: handshake: %w", ErrConnection, ctx.Err())
		}
		return nil, fmt.Errorf("%w: handshake: %v", ErrConnection, err)
	}
	_ = nc.SetDeadline(time.Time{})
	return newConn(nc, s, c.opts.SilenceTimeout), nil
}

// session returns a live session, dialing one into an empty or dead slot.
// A slot's endpoint is fixed by its index, except that a dead endpoint is
// passed over for the next live one.
func (c *Client) session(ctx context.Context) (*conn, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	i := c.next.Add(1) % uint64(len(c.slots))
	sl := &c.slots[i]
	if err := sl.acquire(ctx); err != nil {
		return nil, fmt.Errorf("%w: waiting for a session: %w", ErrConnection, err)
	}
	defer sl.release()
	if c.closed.Load() { // Close came while this call waited
		return nil, ErrClosed
	}
	now := time.Now()
	home := int(i) % len(c.ends)
	if sl.c != nil && sl.c.alive() {
		if sl.at != home && !sl.moving && now.Sub(sl.tried) >= rebalanceEvery && c.ends[home].up(now) {
			sl.moving, sl.tried = true, now
			c.goWork(func() { c.moveHome(sl, home) })
		}
		return sl.c, nil
	}
	var lastErr error
	for k := range c.ends {
		at := (home + k) % len(c.ends)
		e := c.ends[at]
		if !e.up(now) && k < len(c.ends)-1 {
			continue
		}
		s, err := c.dialEndpoint(ctx, e)
		if c.life.Err() != nil { // Close ended the dial, or came during it
			if err == nil {
				s.close(ErrClosed)
			}
			return nil, ErrClosed
		}
		if err != nil {
			lastErr = err
			var r *RefusedError
			if errors.As(err, &r) || errors.Is(err, ErrAttestation) || ctx.Err() != nil {
				return nil, err
			}
			continue
		}
		sl.set(s, at)
		return s, nil
	}
	return nil, lastErr
}

// goWork runs f on a goroutine that Close waits for. It is called only
// before Close has passed every slot (under a slot's lock after the
// closed check, from DialCluster, or from work itself), so Close's wait
// never misses it.
func (c *Client) goWork(f func()) {
	c.work.Add(1)
	go func() {
		defer c.work.Done()
		f()
	}()
}

// moveHome dials sl's home endpoint and, if it answers, puts the new
// session in the slot; the old one closes once its calls are answered.
func (c *Client) moveHome(sl *slot, home int) {
	// Bounded: a runner that answers the handshake and then stalls the
	// attestation must not hold the endpoint (and the slot) for good.
	ctx, cancel := context.WithTimeout(c.life, c.opts.DialTimeout)
	defer cancel()
	var s *conn
	err := ErrClosed
	if !c.closed.Load() {
		s, err = c.dialEndpoint(ctx, c.ends[home])
	}
	sl.acquire(context.Background())
	defer sl.release()
	sl.moving = false
	if err != nil {
		return // marked down; tried again later
	}
	if c.closed.Load() {
		s.close(ErrClosed)
		return
	}
	old := sl.c
	sl.set(s, home)
	if old != nil {
		c.retire(old)
	}
}

// retire closes s once its calls are answered, and at Close if sooner.
// It runs under a slot's lock, as Close takes each slot's lock before it
// reads c.retiring: a session retired by a move that raced Close is
// closed either way.
func (c *Client) retire(s *conn) {
	c.retiringMu.Lock()
	c.retiring[s] = struct{}{}
	c.retiringMu.Unlock()
	s.retire()
	go func() {
		<-s.done
		c.retiringMu.Lock()
		delete(c.retiring, s)
		c.retiringMu.Unlock()
	}()
}

// Sessions counts the live sessions by runner address: where the client's
// load goes, for monitoring.
func (c *Client) Sessions() map[string]int {
	out := make(map[string]int, len(c.ends))
	for _, e := range c.ends {
		out[e.addr] = 0
	}
	for i := range c.slots {
		sl := &c.slots[i]
		sl.view.Lock()
		if sl.c != nil && sl.c.alive() {
			out[c.ends[sl.at].addr]++
		}
		sl.view.Unlock()
	}
	return out
}

// idempotent lists the methods a client may repeat on another replica
// after a connection fails: they read public data and change nothing.
var idempotent = map[string]bool{
	"hdwallet_get_extended_public_key": true,
	"hdwallet_get_address":             true,
	"hdwallet_get_policy":              true,
	"system_attest":                    true,
	"system_info":                      true,
	"system_import_key":                true,
	"system_ping":                      true,
}

// Call invokes method with params and decodes the result into result (a
// pointer, or nil to discard it). It is the escape hatch for methods this
// package has no wrapper for. An idempotent method whose session breaks
// is retried on another session (and so, when one is down, another
// replica), once per address.
func (c *Client) Call(ctx context.Context, method string, params []any, result any) error {
	// A call whose context has ended is not sent: on a ready session the
	// answer and the end could otherwise race, and either could win.
	if err := ctx.Err(); err != nil {
		return err
	}
	attempts := 1
	if idempotent[method] {
		attempts = len(c.ends) + 1
	}
	var err, sent error // sent: an attempt that may have reached a runner
	moved := 0
	for try := 0; try < attempts; try++ {
		var s *conn
		if s, err = c.session(ctx); err == nil {
			err = s.call(ctx, method, params, result)
			if errors.Is(err, errRetired) && moved < 2 {
				// The session was moved home before this call was
				// sent: send it on the new one (any method).
				moved++
				attempts++
				continue
			}
			if err == nil || !errors.Is(err, ErrConnection) || errors.Is(err, ErrClosed) {
				return afterSent(sent, err)
			}
			sent = err
		} else if !errors.Is(err, ErrConnection) {
			return afterSent(sent, err)
		}
		if ctx.Err() != nil {
			return afterSent(sent, err)
		}
	}
	return afterSent(sent, err)
}

// afterSent is the error of a call whose attempt that may have run
// (sent, nil if none) was followed by one that ended in err. An error
// saying the last attempt was not sent (ErrClosed, its context's end)
// would say the call never ran: it keeps the sent attempt's word.
func afterSent(sent, err error) error {
	var answered *Error
	if sent == nil || err == nil || errors.Is(err, ErrConnection) || errors.As(err, &answered) {
		return err
	}
	return fmt.Errorf("%w; its retry: %w", sent, err)
}

// Close closes every session and stops the dials under way, and returns
// once they have ended (a Dialer must honour its context). Calls in
// flight, and calls waiting for a session, fail with ErrClosed; none
// starts a dial after Close.
func (c *Client) Close() error {
	c.closed.Store(true)
	c.end()
	for i := range c.slots {
		sl := &c.slots[i]
		sl.acquire(context.Background())
		if sl.c != nil {
			sl.c.close(ErrClosed)
			sl.set(nil, 0)
		}
		sl.release()
	}
	c.work.Wait() // bounded by c.life, ended above
	c.retiringMu.Lock()
	defer c.retiringMu.Unlock()
	for s := range c.retiring {
		s.close(ErrClosed)
	}
	return nil
}
