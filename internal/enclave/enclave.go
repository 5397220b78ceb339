// Package enclave is the trusted half of secretd: everything that touches
// private keys. It runs inside the TEE with one listening socket and no
// disk, network or shell; its runner opens every connection to it (see
// package hostlink for the connection kinds).
//
// This package and the packages it imports from this module (wire, seal,
// hd, hostlink, attest) are the trusted computing base. Keep them small:
// enclave_imports_test.go fails when a new import appears.
package enclave

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/niomon/niomon/internal/attest"
	"github.com/niomon/niomon/internal/hostlink"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/seal"
	"github.com/niomon/niomon/internal/wire"
	"golang.org/x/sync/semaphore"
)

// Attester produces attestation documents (NSM in Nitro, a dev document in
// dev mode).
type Attester interface {
	Attest(nonce, userData, publicKey []byte) ([]byte, error)
}

// Config configures an enclave.
type Config struct {
	// Dev enables dev mode: the master key is sealed to the dev sealing key
	// the runner supplies. Never set in a real TEE.
	Dev bool
	// AllowPlaintextImport enables hdwallet_import_with_policy, which
	// receives a mnemonic inside the Noise session. Dev only: it exists
	// for tests and migration rehearsals.
	AllowPlaintextImport bool
	// MasterSealer seals the master key outside dev mode (AWS KMS with an
	// attestation recipient in Nitro). Nil in dev mode.
	MasterSealer MasterSealer
	// Attester signs attestation documents.
	Attester Attester
	// PeerPolicy is what another enclave of the cluster must attest to
	// (for joins): the trust roots and this enclave's own PCRs. Now,
	// MaxAge, Nonce and PublicKey are filled per use.
	PeerPolicy attest.Policy
	// CacheSize bounds the unsealed wallets kept in memory.
	CacheSize int
	// MaxSessions bounds concurrent client sessions.
	MaxSessions int
	// ClockSkew bounds how far a ClientHello timestamp may be from now.
	ClockSkew time.Duration
	// ReplayCacheSize bounds the nonces of stamped requests remembered
	// (see policy.ReplayCache for what it sustains).
	ReplayCacheSize int
	// Log receives operational events; never key material.
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Enclave serves the Secretd protocol on relayed client connections.
type Enclave struct {
	cfg Config
	log *slog.Logger

	bootMu     sync.Mutex
	booted     chan struct{} // closed once the keys below are set
	ready      chan struct{} // closed once serving: booted, recovering or waiting for genesis
	readyOnce  sync.Once
	servingID  atomic.Pointer[wire.PrivateKey]   // the Noise static key sessions use
	table      atomic.Pointer[map[string]method] // the methods sessions may call
	rec        atomic.Pointer[recovery]          // set while recovering
	gen        atomic.Pointer[genesisState]      // set while waiting for genesis
	sealer     MasterSealer                      // set at boot
	rotateMu   sync.Mutex                        // one DRK rotation at a time
	cluster    atomic.Pointer[cluster]           // the cluster record, once booted
	fresh      *freshness                        // the index's witnesses; nil for a cluster without (dev)
	runCtx     context.Context                   // Serve's context, for background work
	master     *seal.MasterKey                   // kept for joins and DRK rotations
	identity   wire.PrivateKey
	walletK    *seal.Key
	signer     *statementSigner
	importRoot *seal.ImportRoot
	replay     *policy.ReplayCache

	links   sync.Mutex
	linkSet map[*hostlink.Link]struct{}

	typedData      chan struct{}       // one token per EIP-712 document being parsed
	budget         *semaphore.Weighted // request bytes in flight, over all sessions; first come, first served
	requestTimeout time.Duration       // requestTimeout, but for tests

	allow    atomic.Pointer[map[wire.PublicKey]struct{}]
	cache    *walletCache
	sessions chan struct{}
	methods  map[string]method
}

// New returns an enclave that has no keys until a runner connects.
func New(cfg Config) (*Enclave, error) {
	if cfg.Attester == nil {
		return nil, errors.New("enclave: an attester is required")
	}
	if !cfg.Dev && cfg.MasterSealer == nil {
		return nil, errors.New("enclave: outside dev mode a master-key sealer is required")
	}
	if cfg.AllowPlaintextImport && !cfg.Dev {
		return nil, errors.New("enclave: plaintext import is a dev-mode switch")
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = defaultCacheSize
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = defaultMaxSessions
	}
	if cfg.ClockSkew <= 0 {
		cfg.ClockSkew = defaultClockSkew
	}
	if cfg.ReplayCacheSize <= 0 {
		cfg.ReplayCacheSize = defaultReplayCacheSize
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &Enclave{
		cfg:            cfg,
		log:            cfg.Log,
		booted:         make(chan struct{}),
		ready:          make(chan struct{}),
		linkSet:        make(map[*hostlink.Link]struct{}),
		cache:          newWalletCache(cfg.CacheSize),
		sessions:       make(chan struct{}, cfg.MaxSessions),
		typedData:      make(chan struct{}, maxTypedDataInFlight),
		budget:         semaphore.NewWeighted(maxRequestBytesInFlight),
		requestTimeout: requestTimeout,
		replay:         policy.NewReplayCache(cfg.ReplayCacheSize, cfg.ReplayCacheSize/replayShareDivisor, cfg.Now),
	}
	empty := map[wire.PublicKey]struct{}{}
	e.allow.Store(&empty)
	e.methods = e.methodTable()
	return e, nil
}

// Serve accepts runner connections on ln until ctx ends. On return every
// cached key has been wiped.
func (e *Enclave) Serve(ctx context.Context, ln net.Listener) error {
	e.bootMu.Lock()
	e.runCtx = ctx
	e.bootMu.Unlock()
	defer e.wipe()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.handleConn(ctx, conn)
		}()
	}
}

func (e *Enclave) handleConn(ctx context.Context, conn net.Conn) {
	var kind [1]byte
	_ = conn.SetReadDeadline(time.Now().Add(wire.HandshakeTimeout))
	if _, err := io.ReadFull(conn, kind[:]); err != nil {
		conn.Close()
		return
	}
	switch kind[0] {
	case hostlink.ConnHost:
		_ = conn.SetReadDeadline(time.Time{})
		e.serveHost(ctx, conn)
	case hostlink.ConnClient:
		e.serveClient(ctx, conn)
	default:
		conn.Close()
	}
}

// serveHost runs one host link: it boots the enclave on the first one, and
// offers the link for storage requests until it fails.
func (e *Enclave) serveHost(ctx context.Context, conn net.Conn) {
	link, hello, err := hostlink.Accept(conn)
	if err != nil {
		e.log.Warn("host link refused", "err", err)
		conn.Close()
		return
	}
	defer link.Close()
	if err := e.boot(ctx, link, hello); err != nil {
		e.log.Error("boot failed", "err", err)
		_ = link.Ready(nil, err)
		return
	}
	e.setAllowList(hello.ClientKeys)
	e.links.Lock()
	e.linkSet[link] = struct{}{}
	e.links.Unlock()
	defer func() {
		e.links.Lock()
		delete(e.linkSet, link)
		e.links.Unlock()
	}()
	if err := e.announce(link); err != nil {
		return
	}
	e.log.Info("host link ready")
	select {
	case <-link.Done():
	case <-ctx.Done():
	}
}

func (e *Enclave) setAllowList(keys [][]byte) {
	m := make(map[wire.PublicKey]struct{}, len(keys))
	for _, k := range keys {
		var p wire.PublicKey
		if len(k) == len(p) {
			copy(p[:], k)
			m[p] = struct{}{}
		}
	}
	e.allow.Store(&m)
}

// wipe zeroes every key the enclave holds; Serve calls it on the way
// out. Sessions have ended by then. (The Noise identity is a crypto/ecdh
// key, which offers no way to zero it.)
func (e *Enclave) wipe() {
	e.bootMu.Lock()
	defer e.bootMu.Unlock()
	e.cache.wipeAll()
	if e.master != nil {
		e.master.Wipe()
	}
	e.signer.wipe()
	if e.walletK != nil {
		e.walletK.Wipe()
	}
	if e.importRoot != nil {
		e.importRoot.Wipe()
	}
	if e.fresh != nil {
		e.fresh.wipe()
	}
	if g := e.gen.Load(); g != nil {
		g.mu.Lock()
		if g.pending != nil {
			g.pending.mk.Wipe()
		}
		g.mu.Unlock()
	}
	if r := e.rec.Load(); r != nil {
		r.key.Wipe()
	}
}

// announce tells a host link what the enclave serves: the cluster
// identity once booted, else the temporary identity of recovery or of
// genesis.
func (e *Enclave) announce(l *hostlink.Link) error {
	if e.isBooted() {
		return l.Ready(e.identity.Public().Bytes(), nil)
	}
	if g := e.gen.Load(); g != nil {
		return l.Genesis(g.identity.Public().Bytes())
	}
	return l.Recovering(e.rec.Load().identity.Public().Bytes())
}

// announceAll announces to every live host link.
func (e *Enclave) announceAll() {
	e.links.Lock()
	defer e.links.Unlock()
	for l := range e.linkSet {
		_ = e.announce(l)
	}
}

func (e *Enclave) isBooted() bool {
	select {
	case <-e.booted:
		return true
	default:
		return false
	}
}

// serve makes sessions use identity and table from now on.
func (e *Enclave) serve(identity wire.PrivateKey, table map[string]method) {
	e.servingID.Store(&identity)
	e.table.Store(&table)
	e.readyOnce.Do(func() { close(e.ready) })
}

// link returns a live host link for a storage request.
func (e *Enclave) link() (*hostlink.Link, error) {
	e.links.Lock()
	defer e.links.Unlock()
	for l := range e.linkSet {
		select {
		case <-l.Done():
			continue
		default:
			return l, nil
		}
	}
	return nil, hostlink.ErrUnavailable
}

// serveClient runs the handshake and then one client session.
func (e *Enclave) serveClient(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	select {
	case e.sessions <- struct{}{}:
		defer func() { <-e.sessions }()
	default:
		_ = wire.WriteFrame(conn, []byte(wire.RefuseBusy))
		return
	}
	select {
	case <-e.ready:
	case <-time.After(wire.HandshakeTimeout):
		_ = wire.WriteFrame(conn, []byte(wire.RefuseNotReady))
		return
	case <-ctx.Done():
		return
	}
	_ = conn.SetDeadline(time.Now().Add(wire.HandshakeTimeout))
	s, peer, err := wire.Server(conn, *e.servingID.Load(), e.authorize)
	if err != nil {
		e.log.Debug("handshake refused", "err", err)
		return
	}
	_ = conn.SetDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	e.serveSession(ctx, s, peer)
}

// authorize admits static_key clients on the allow-list whose hello is
// recent.
func (e *Enclave) authorize(peer wire.PublicKey, h wire.ClientHello) error {
	if h.AuthMethod != wire.AuthStaticKey {
		return &wire.Refusal{Reason: "unsupported auth method"}
	}
	if _, ok := (*e.allow.Load())[peer]; !ok {
		return &wire.Refusal{Reason: wire.RefuseAuth}
	}
	now := e.cfg.Now()
	ts := time.Unix(0, int64(min(h.Timestamp, 1<<63-1)))
	if ts.Before(now.Add(-e.cfg.ClockSkew)) || ts.After(now.Add(e.cfg.ClockSkew)) {
		return &wire.Refusal{Reason: "client clock out of range"}
	}
	return nil
}

func (e *Enclave) serveSession(ctx context.Context, s *wire.Session, peer wire.Peer) {
	mr := wire.NewMessageReader(s)
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		item, err := mr.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				e.log.Debug("session ended", "err", err)
			}
			return
		}
		req, err := wire.DecodeRequest(item)
		if err != nil {
			var re *wire.RequestError
			if errors.As(err, &re) && re.HasID {
				e.reply(s, re.MsgID, nil, &wire.RPCError{Code: wire.CodeBadRequest, Message: re.Reason})
				continue
			}
			e.log.Debug("undecodable request, closing session", "err", err)
			return
		}
		// A request is answered within requestTimeout of being read,
		// its waits included: a client takes a runner that leaves a
		// request unanswered far longer for a stopped one.
		rctx, cancel := context.WithTimeout(ctx, e.requestTimeout)
		// Every request's bytes count against one budget for all
		// sessions: a request waits (and its session with it) until the
		// budget has room, in the order they came, so a large one is
		// not starved by small ones. What a request holds while it runs
		// is a small multiple of its size.
		cost := int64(len(item))
		// A request with nothing queued behind it runs here, in the
		// session's reader: handing it to a new goroutine costs a wakeup
		// that measured a quarter of a call's latency. Requests that
		// arrive together run concurrently, up to maxInFlight.
		admitted, inline := e.budget.Acquire(rctx, cost) == nil, false
		if admitted {
			inline = !mr.Pending() && len(sem) == 0
			if !inline && !takeSlot(rctx, sem) {
				e.budget.Release(cost)
				admitted = false
			}
		}
		if !admitted {
			cancel()
			if ctx.Err() != nil {
				return
			}
			e.reply(s, req.MsgID, nil, errBusy)
			continue
		}
		// Room is given back before the answer is written: a client that
		// stops reading its answers holds no room from other sessions.
		run := func() {
			result, err := e.dispatch(rctx, peer, req)
			e.budget.Release(cost)
			cancel()
			e.reply(s, req.MsgID, result, err)
		}
		if inline {
			run()
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			run()
		}()
	}
}

// takeSlot takes one of sem's slots unless rctx ends first; a slot that
// comes as it ends is given back.
func takeSlot(rctx context.Context, sem chan struct{}) bool {
	select {
	case sem <- struct{}{}:
		if rctx.Err() == nil {
			return true
		}
		<-sem
	case <-rctx.Done():
	}
	return false
}

func (e *Enclave) reply(s *wire.Session, msgid uint64, result any, err error) {
	var text *string
	if err != nil {
		var re *wire.RPCError
		if !errors.As(err, &re) {
			e.log.Error("request failed", "err", err)
			re = &wire.RPCError{Code: wire.CodeInternal, Message: "internal error"}
		}
		t := re.Error()
		text = &t
	}
	b, encErr := wire.EncodeResponse(msgid, text, result)
	if encErr != nil {
		e.log.Error("encoding a response", "err", encErr)
		t := (&wire.RPCError{Code: wire.CodeInternal, Message: "internal error"}).Error()
		b, _ = wire.EncodeResponse(msgid, &t, nil)
	}
	_, _ = s.Write(b)
}

func (e *Enclave) dispatch(ctx context.Context, peer wire.Peer, req wire.Request) (result any, err error) {
	defer func() {
		// A bug in a handler must not take the enclave down with every
		// other session in it; the client gets a fixed error.
		if r := recover(); r != nil {
			e.log.Error("handler panicked", "method", req.Method, "panic", fmt.Sprint(r))
			result, err = nil, &wire.RPCError{Code: wire.CodeInternal, Message: "internal error"}
		}
	}()
	m, ok := (*e.table.Load())[req.Method]
	if !ok {
		if !e.isBooted() && e.rec.Load() != nil {
			return nil, &wire.RPCError{Code: wire.CodeUnavailable, Message: "the enclave is recovering; only recovery methods are served"}
		}
		if !e.isBooted() && e.gen.Load() != nil {
			return nil, &wire.RPCError{Code: wire.CodeUnavailable, Message: "the cluster does not exist yet: run its genesis ceremony (docs/disaster-recovery.md)"}
		}
		return nil, &wire.RPCError{Code: wire.CodeUnknownMethod, Message: "unknown method"}
	}
	return m(ctx, peer, req) // ctx carries the request's deadline
}
