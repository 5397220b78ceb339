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
	pending  map[uint64]chan result
	nextID   uint64
	err      error
	done     chan struct{}
	retiring bool // close once no call is pending

	// stall bounds a write the runner does not take: past it, the
	// runner has stopped reading, and the session closes.
	stall time.Duration
}

// errRetired: the session was replaced and closed before the call was
// sent, so the call may go on another session whatever it does.
var errRetired = fmt.Errorf("%w: session moved to another runner", ErrConnection)

type result struct {
	errText *string
	raw     cbor.RawMessage
}

func newConn(nc net.Conn, s *wire.Session, stall time.Duration) *conn {
	c := &conn{nc: nc, s: s, pending: make(map[uint64]chan result), done: make(chan struct{}), stall: stall}
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
		ch := c.pending[r.MsgID]
		delete(c.pending, r.MsgID)
		c.mu.Unlock()
		if ch != nil {
			ch <- result{errText: r.Error, raw: r.Result}
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
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
	close(c.done)
	c.nc.Close()
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
	c.pending[id] = ch
	c.mu.Unlock()

	req, err := wireclient.EncodeRequest(id, method, params)
	if err != nil {
		c.forget(id)
		return fmt.Errorf("secretd: encoding %s: %w", method, err)
	}
	if err := c.write(ctx, req); err != nil {
		if errors.Is(err, errAbandoned) {
			c.forget(id)
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
		c.forget(id)
		return ctx.Err()
	}
}

// errAbandoned: the call's context ended before its request was
// written; the write goes on without it.
var errAbandoned = errors.New("secretd: write abandoned")

// write sends req. A runner that stops reading blocks the write, and the
// writes queued behind it: a call whose context can end writes on its
// own goroutine and returns at that end (its request may still go out,
// so it may still run). Another call's end never closes the session: only
// a write that the runner has not taken after c.stall does.
func (c *conn) write(ctx context.Context, req []byte) error {
	if ctx.Done() == nil { // it cannot end: write in line
		_, err := c.s.Write(req)
		return err
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := c.s.Write(req)
		wrote <- err
	}()
	select {
	case err := <-wrote:
		return err
	case <-ctx.Done():
	}
	go func() {
		t := time.NewTimer(c.stall)
		defer t.Stop()
		select {
		case err := <-wrote:
			if err != nil {
				c.close(fmt.Errorf("%w: %v", ErrConnection, err))
			}
		case <-t.C:
			c.close(fmt.Errorf("%w: the runner took no request for %v", ErrConnection, c.stall))
		case <-c.done:
		}
	}()
	return errAbandoned
}

func (c *conn) forget(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
	c.closeIfRetired()
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
