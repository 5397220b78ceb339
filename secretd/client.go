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
	// Attestation, when set, is checked on the first session before the
	// client uses the identity; Dial fails on a mismatch.
	Attestation *AttestationPolicy
	// Dialer, when set, replaces net.Dialer (for tests and proxies).
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Client is a pool of Secretd sessions to one address.
type Client struct {
	addr     string
	opts     Options
	identity wire.PublicKey

	slots  []slot
	next   atomic.Uint64
	closed atomic.Bool

	keyMu sync.Mutex
	rk    ed25519.PublicKey // the cluster's receipt key, once known
}

type slot struct {
	mu sync.Mutex
	c  *conn
}

// Dial connects to a Secretd runner at addr, runs the handshake, and (with
// an attestation policy) verifies the enclave before returning.
func Dial(ctx context.Context, addr string, opts Options) (*Client, error) {
	id, err := wire.ParsePublicKey(opts.Identity)
	if err != nil {
		return nil, fmt.Errorf("secretd: cluster identity: %w", err)
	}
	if opts.Key.k.IsZero() {
		return nil, errors.New("secretd: a client key is required")
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = 4
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.Dialer == nil {
		var d net.Dialer
		opts.Dialer = d.DialContext
	}
	c := &Client{addr: addr, opts: opts, identity: id, slots: make([]slot, opts.PoolSize)}
	first, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	if opts.Attestation != nil {
		if err := c.attestSession(ctx, first); err != nil {
			first.close(err)
			return nil, err
		}
	}
	c.slots[0].c = first
	return c, nil
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
		return fmt.Errorf("secretd: attestation: %w", err)
	}
	d, err := c.opts.Attestation.verify(doc, nonce, c.identity)
	if err != nil {
		return fmt.Errorf("secretd: attestation: %w", err)
	}
	// The document's user data carries the cluster's other public keys.
	var keys api.AttestedKeys
	if err := wire.UnmarshalResult(d.UserData, &keys); err != nil || len(keys.ReceiptKey) != ed25519.PublicKeySize {
		return fmt.Errorf("secretd: attestation: %w: no receipt key in the document", ErrAttestation)
	}
	c.rk = keys.ReceiptKey
	return nil
}

func (c *Client) dial(ctx context.Context) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.DialTimeout)
	defer cancel()
	nc, err := c.opts.Dialer(ctx, "tcp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("secretd: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	hello := wire.ClientHello{Timestamp: uint64(time.Now().UnixNano()), AuthMethod: wire.AuthStaticKey}
	s, err := wire.Client(nc, c.identity, c.opts.Key.k, hello)
	stop()
	if err != nil {
		nc.Close()
		var r *wire.Refusal
		if errors.As(err, &r) {
			return nil, &RefusedError{Reason: r.Reason}
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("secretd: handshake: %w", ctx.Err())
		}
		return nil, fmt.Errorf("secretd: handshake: %w", err)
	}
	_ = nc.SetDeadline(time.Time{})
	return newConn(nc, s), nil
}

// session returns a live session, dialing one into an empty or dead slot.
func (c *Client) session(ctx context.Context) (*conn, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	sl := &c.slots[c.next.Add(1)%uint64(len(c.slots))]
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.c != nil && sl.c.alive() {
		return sl.c, nil
	}
	s, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	if c.closed.Load() {
		s.close(ErrClosed)
		return nil, ErrClosed
	}
	sl.c = s
	return s, nil
}

// Call invokes method with params and decodes the result into result (a
// pointer, or nil to discard it). It is the escape hatch for methods this
// package has no wrapper for.
func (c *Client) Call(ctx context.Context, method string, params []any, result any) error {
	s, err := c.session(ctx)
	if err != nil {
		return err
	}
	return s.call(ctx, method, params, result)
}

// Close closes every session. Calls in flight fail with ErrClosed.
func (c *Client) Close() error {
	c.closed.Store(true)
	for i := range c.slots {
		sl := &c.slots[i]
		sl.mu.Lock()
		if sl.c != nil {
			sl.c.close(ErrClosed)
			sl.c = nil
		}
		sl.mu.Unlock()
	}
	return nil
}
