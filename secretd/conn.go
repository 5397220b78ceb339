package secretd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/internal/wireclient"
)

// conn is one session: requests are pipelined and answered by msgid.
type conn struct {
	nc net.Conn
	s  *wire.Session

	mu       sync.Mutex
	pending  map[uint64]owed // the requests written and not yet answered
	nextID   uint64
	err      error
	done     chan struct{}
	retiring bool // close once no call is pending

	// silence bounds how long the runner may say nothing while it owes
	// a reply, and how long it may leave its oldest request unanswered:
	// past either, the session closes. heard is the last reply, or the
	// start of the current spell with replies owed; oldest is the oldest
	// request owed (noOldest: not known since it changed) and
	// oldestSince a time it was the oldest by; watch fires the check
	// (armed: it is set to); seq numbers the writes.
	silence     time.Duration
	heard       time.Time
	oldest      uint64
	oldestSince time.Time
	seq         uint64
	watch       *time.Timer
	armed       bool
	// wlock admits one write at a time; a call whose context ends while
	// it waits for it has sent nothing.
	wlock chan struct{}
}

// errRetired: the session was replaced and closed before the call was
// sent, so the call may go on another session whatever it does.
var errRetired = fmt.Errorf("%w: session moved to another runner", ErrConnection)

// owed is a request the runner has to answer: seq orders the writes.
type owed struct {
	ch  chan result
	seq uint64
}

const noOldest = ^uint64(0)

type result struct {
	errText *string
	raw     cbor.RawMessage
}

func newConn(nc net.Conn, s *wire.Session, silence time.Duration) *conn {
	c := &conn{nc: nc, s: s, pending: make(map[uint64]owed), done: make(chan struct{}), silence: silence, wlock: make(chan struct{}, 1)}
	go c.readLoop()
	return c
}

func (c *conn) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

func (c *conn) readLoop() {
	mr := wire.NewMessageReader(c.s)
	for {
		item, err := mr.Next()
		if err != nil {
			c.close(fmt.Errorf("%w: %v", ErrConnection, err))
			return
		}
		r, err := wireclient.DecodeResponse(item)
		if err != nil {
			c.close(fmt.Errorf("%w: %v", ErrConnection, err))
			return
		}
		c.mu.Lock()
		o, ok := c.pending[r.MsgID]
		if !ok && r.MsgID >= c.nextID {
			c.mu.Unlock()
			c.close(fmt.Errorf("%w: the runner answered request %d, which was never sent", ErrConnection, r.MsgID))
			return
		}
		if ok { // a stray answer (a duplicate) says nothing of the others
			delete(c.pending, r.MsgID)
			now := time.Now()
			c.heard = now
			if c.oldest == noOldest || o.seq == c.oldest {
				c.oldest, c.oldestSince = noOldest, now
			}
		}
		c.mu.Unlock()
		if ok {
			o.ch <- result{errText: r.Error, raw: r.Result}
		}
		c.closeIfRetired()
	}
}

// retire closes the session once the calls on it are answered; calls
// made after that fail with errRetired, unsent.
func (c *conn) retire() {
	c.mu.Lock()
	c.retiring = true
	c.mu.Unlock()
	c.closeIfRetired()
}

// closeIfRetired closes a retiring session with no call pending. The
// check and the close are one step under c.mu: a call that registers in
// between would be sent and then told errRetired, and resent elsewhere.
func (c *conn) closeIfRetired() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.retiring && len(c.pending) == 0 {
		c.closeLocked(errRetired)
	}
}

func (c *conn) close(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(err)
}

func (c *conn) closeLocked(err error) {
	if c.err != nil {
		return
	}
	c.err = err
	for id, o := range c.pending {
		close(o.ch)
		delete(c.pending, id)
	}
	close(c.done)
	if c.watch != nil {
		c.watch.Stop()
	}
	c.nc.Close()
}

// owe registers, under c.mu and the write turn, the request about to be
// written, and keeps the silence check armed while any is owed. A
// request that was sent, or may have been, stays owed after its call
// returns, until the runner answers it or the session ends: a runner
// that stops answering is caught whatever the callers' deadlines.
func (c *conn) owe(id uint64, ch chan result) {
	if len(c.pending) == 0 {
		now := time.Now()
		c.heard, c.oldest, c.oldestSince = now, c.seq, now
	}
	c.pending[id] = owed{ch: ch, seq: c.seq}
	c.seq++
	if c.armed {
		return
	}
	c.armed = true
	if c.watch == nil {
		c.watch = time.AfterFunc(c.silence, c.checkSilence)
	} else {
		c.watch.Reset(c.silence)
	}
}

// checkSilence closes the session if the runner has owed a reply and
// said nothing for c.silence, or has left its oldest request unanswered
// that long while it answered others. The enclave reads a session's
// requests in order and answers each within its request timeout of
// reading it; once every request written before one is answered, it has
// read that one too. So either is a runner that stopped, or dropped a
// request. An oldest request is seen within c.silence of becoming so:
// it is caught within twice c.silence.
func (c *conn) checkSilence() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	if len(c.pending) == 0 {
		c.armed = false
		return
	}
	now := time.Now()
	if c.oldest == noOldest {
		for _, o := range c.pending {
			c.oldest = min(c.oldest, o.seq)
		}
	}
	switch {
	case now.Sub(c.heard) >= c.silence:
		c.closeLocked(fmt.Errorf("%w: the runner owed a reply and said nothing for %v", ErrConnection, c.silence))
	case now.Sub(c.oldestSince) >= c.silence:
		c.closeLocked(fmt.Errorf("%w: the runner left a request unanswered for %v while it answered others", ErrConnection, c.silence))
	default:
		next := c.heard
		if c.oldestSince.Before(next) {
			next = c.oldestSince
		}
		c.watch.Reset(next.Add(c.silence).Sub(now))
	}
}

func (c *conn) call(ctx context.Context, method string, params []any, out any) error {
	if err := ctx.Err(); err != nil {
		return err // not sent
	}
	ch := make(chan result, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return err
	}
	id := c.nextID
	c.nextID++
	c.mu.Unlock()

	req, err := wireclient.EncodeRequest(id, method, params)
	if err != nil {
		return fmt.Errorf("secretd: encoding %s: %w", method, err)
	}
	if err := c.write(ctx, id, ch, req); err != nil {
		switch {
		case errors.Is(err, errNotSent):
			if ctx.Err() != nil {
				return fmt.Errorf("%w: %w", errNotSent, ctx.Err())
			}
			return c.closedErr()
		case errors.Is(err, errAbandoned):
			// Still owed: the request may go out.
			return fmt.Errorf("%w: writing the request: %w", ErrConnection, ctx.Err())
		}
		c.close(fmt.Errorf("%w: %v", ErrConnection, err))
		return c.sentErr()
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return c.sentErr()
		}
		if r.errText != nil {
			return newError(*r.errText)
		}
		if out == nil {
			return nil
		}
		if err := wire.UnmarshalResult(r.raw, out); err != nil {
			return fmt.Errorf("secretd: decoding the %s result: %w", method, err)
		}
		return nil
	case <-ctx.Done():
		// Still owed: the runner's answer, or its silence, ends it.
		return ctx.Err()
	}
}

var (
	// errNotSent: the call's context ended, or the session closed, while
	// it waited for its turn to write: nothing was sent. A call whose
	// context ended so wraps it beside the context's error.
	errNotSent = errors.New("secretd: not sent (a write before it was not taken)")
	// errAbandoned: the call's context ended while its request was being
	// written; the write goes on without it, and the call may run.
	errAbandoned = errors.New("secretd: write abandoned")
)

// write sends req, one write at a time. A runner that stops reading
// blocks the write in the socket, and pushes back on the calls queued
// behind it; if it also stops answering, the silence check closes the
// session. A call whose context ends while it waits for its turn sends
// nothing; one whose context ends during its write returns then (the
// write, on its own goroutine, goes on). Another call's end never closes
// the session.
func (c *conn) write(ctx context.Context, id uint64, ch chan result, req []byte) error {
	select {
	case c.wlock <- struct{}{}:
	case <-ctx.Done():
		return errNotSent
	case <-c.done:
		return errNotSent
	}
	c.mu.Lock()
	// select picks at random among ready cases: the context may have
	// ended, or the session closed (or retired), as the turn came.
	if ctx.Err() != nil || c.err != nil {
		c.mu.Unlock()
		<-c.wlock
		return errNotSent
	}
	c.owe(id, ch)
	c.mu.Unlock()
	send := func() error {
		defer func() { <-c.wlock }()
		_, err := c.s.Write(req)
		return err
	}
	if ctx.Done() == nil { // it cannot end: write in line
		return send()
	}
	wrote := make(chan error, 1)
	go func() {
		err := send()
		if err != nil { // whether or not its call still waits
			c.close(fmt.Errorf("%w: %v", ErrConnection, err))
		}
		wrote <- err
	}()
	select {
	case err := <-wrote:
		return err
	case <-ctx.Done():
		return errAbandoned
	}
}

// closedErr is the error of a call that a closed session did not send.
func (c *conn) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		return ErrConnection
	}
	return c.err
}

// sentErr is the error of a call that was written, or was being written,
// when the session closed: it may have run, so it matches ErrConnection,
// also when Close closed the session (and it matches ErrClosed then).
func (c *conn) sentErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.err == nil:
		return ErrConnection
	case errors.Is(c.err, ErrConnection):
		return c.err
	default:
		return fmt.Errorf("%w while the call was sent: %w, it may have run", c.err, ErrConnection)
	}
}

// Errors. A call's error matches one of these with errors.Is, and is an
// *Error with the server's code and message when the server answered.
var (
	ErrNotFound      = errors.New("secretd: not found")
	ErrExists        = errors.New("secretd: already exists")
	ErrInvalidParams = errors.New("secretd: invalid params")
	ErrUnknownMethod = errors.New("secretd: unknown method")
	ErrUnavailable   = errors.New("secretd: unavailable")
	ErrUnauthorized  = errors.New("secretd: unauthorized")
	// ErrConflict: the object changed since the request was written
	// (e.g. a policy change at an old version). Re-read and retry.
	ErrConflict = errors.New("secretd: conflict")
	// ErrConnection: the session broke. The call may or may not have run.
	ErrConnection = errors.New("secretd: connection lost")
	// ErrClosed: the client was closed. A call that was sent, and so may
	// have run, matches ErrConnection too; one that matches only
	// ErrClosed was not sent.
	ErrClosed = errors.New("secretd: client closed")
)

// Error is an error answered by the server.
type Error struct {
	Code    string // stable, e.g. "not_found"
	Message string
}

func newError(text string) error {
	e := wireclient.ParseRPCError(text)
	return &Error{Code: e.Code, Message: e.Message}
}

func (e *Error) Error() string { return "secretd: " + e.Code + ": " + e.Message }

// Is maps the server's code to this package's sentinel errors.
func (e *Error) Is(target error) bool {
	switch e.Code {
	case wire.CodeNotFound:
		return target == ErrNotFound
	case wire.CodeExists:
		return target == ErrExists
	case wire.CodeInvalidParams, wire.CodeBadRequest:
		return target == ErrInvalidParams
	case wire.CodeUnknownMethod:
		return target == ErrUnknownMethod
	case wire.CodeUnavailable:
		return target == ErrUnavailable
	case wire.CodeUnauthorized:
		return target == ErrUnauthorized
	case wire.CodeConflict:
		return target == ErrConflict
	}
	return false
}

// RefusedError is a connection the server refused in the handshake.
type RefusedError struct {
	Reason string // the fixed phrase, e.g. "handshake failed"
	// Announced is the cluster identity the server says it holds, with a
	// "handshake failed" ("" if it said none). The runner relays it and
	// could write any: it is a hint for the operator, never to be pinned
	// unchecked.
	Announced string
}

func (e *RefusedError) Error() string {
	msg := "secretd: connection refused: " + e.Reason
	if hint := refusalHints[e.Reason]; hint != "" {
		msg += ": " + hint
	}
	if e.Announced != "" {
		msg += ". The runner announces the identity " + e.Announced + " (its claim, unchecked: use it only if this is your cluster's runner, and pin the enclave's attestation)"
	}
	return msg
}

// refusalHints tell an operator what a refusal most likely means.
var refusalHints = map[string]string{
	// IK: the first message is encrypted to the identity the client was
	// given; a runner that cannot read it has another one.
	wire.RefuseHandshake: "the cluster identity most likely does not match (the client's first message is encrypted to the identity it was given, and this cluster cannot read it): use the identity the runner prints as cluster_identity",
	wire.RefuseAuth:      "this client key's public key is not on the runner's allow-list (--client-key, or client_keys in its config)",
}
