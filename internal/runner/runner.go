// Package runner is the untrusted half of secretd. It runs on the parent
// instance, outside the TEE, and does three things for the enclave: it
// accepts client TCP connections and relays their bytes into the enclave
// (the Noise session ends inside, so it sees ciphertext only), it stores
// the enclave's sealed objects, and it gives the enclave its configuration.
// Nothing here can read a key; a compromised runner can deny service, not
// decrypt or sign.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/niomon/niomon/internal/hostlink"
	"github.com/niomon/niomon/internal/hostserve"
	"github.com/niomon/niomon/internal/sock"
	"github.com/niomon/niomon/internal/store"
	"github.com/niomon/niomon/internal/wire"
)

// Config configures a runner.
type Config struct {
	// Listen is the client TCP address, e.g. "127.0.0.1:9000".
	Listen string
	// Enclave is the enclave socket, "unix:/path" or "vsock:CID:PORT".
	Enclave string
	// Store holds the sealed objects.
	Store store.Store
	// ClientKeys is the static_key allow-list passed to the enclave.
	ClientKeys []wire.PublicKey
	// DevSealingKey, in dev mode only, is handed to the enclave to seal
	// its master key. Nil outside dev mode.
	DevSealingKey *DevSealingKey
	// HostLinks is how many host links to keep open (default 2).
	HostLinks int
	// MaxConns bounds concurrent client connections (default 4096).
	MaxConns int
	// Mode is the enclave's boot mode: hostlink.ModeNormal,
	// hostlink.ModeRecover or hostlink.ModeJoin.
	Mode string
	// Join takes a joining enclave's attestation document to a running
	// enclave of the cluster and returns its answer (ModeJoin only).
	Join func(ctx context.Context, doc []byte) ([]byte, error)
	// Witnesses are the addresses of the cluster's freshness witnesses,
	// in the order its genesis names them.
	Witnesses []string
	// Log receives operational events.
	Log *slog.Logger
}

// Runner relays clients to an enclave and serves its storage.
type Runner struct {
	cfg Config
	log *slog.Logger

	ready    chan struct{} // closed when clients are accepted
	idKnown  chan struct{} // closed when the enclave first reports Ready
	once     sync.Once
	identity wire.PublicKey
	bootErr  chan error

	recOnce    sync.Once
	recovering chan struct{} // closed when the enclave serves recovery
	recID      wire.PublicKey

	genOnce    sync.Once
	genesis    chan struct{} // closed when the enclave waits for its genesis ceremony
	genID      wire.PublicKey
	identified chan struct{} // closed when the real identity is known after recovery

	lnMu sync.Mutex
	ln   net.Listener

	// While no host link reaches the enclave, an operator hears why.
	downMu    sync.Mutex
	downSince time.Time // zero while a link is up
	warnedAt  time.Time

	witnesses *witnessRelay
}

// New checks cfg and returns a runner.
func New(cfg Config) (*Runner, error) {
	if cfg.Listen == "" || cfg.Enclave == "" || cfg.Store == nil {
		return nil, errors.New("runner: listen address, enclave socket and store are required")
	}
	if cfg.HostLinks <= 0 {
		cfg.HostLinks = 2
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 4096
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Mode == hostlink.ModeJoin && cfg.Join == nil {
		return nil, errors.New("runner: join mode needs a cluster to join")
	}
	return &Runner{cfg: cfg, log: cfg.Log, witnesses: newWitnessRelay(cfg.Witnesses), ready: make(chan struct{}), idKnown: make(chan struct{}), bootErr: make(chan error, 1), recovering: make(chan struct{}), genesis: make(chan struct{})}, nil
}

// Ready is closed once the enclave has booted and the client listener is
// open.
func (r *Runner) Ready() <-chan struct{} { return r.ready }

// Identity is the cluster identity; valid after Ready, or after
// Identified when the runner started in recovery mode.
func (r *Runner) Identity() wire.PublicKey { return r.identity }

// Recovering is closed when an enclave started in recovery mode serves
// its temporary identity (RecoveryIdentity); clients are accepted then.
func (r *Runner) Recovering() <-chan struct{} { return r.recovering }

// RecoveryIdentity is the temporary identity of a recovering enclave.
func (r *Runner) RecoveryIdentity() wire.PublicKey { return r.recID }

// Genesis is closed when the enclave has no cluster yet and serves its
// genesis ceremony under a temporary identity (GenesisIdentity); clients
// are accepted then.
func (r *Runner) Genesis() <-chan struct{} { return r.genesis }

// GenesisIdentity is the temporary identity of an enclave waiting for its
// genesis ceremony.
func (r *Runner) GenesisIdentity() wire.PublicKey { return r.genID }

// Identified is closed once the enclave serves the cluster identity.
func (r *Runner) Identified() <-chan struct{} { return r.idKnown }

// Addr is the client listener's address; valid after Ready.
func (r *Runner) Addr() net.Addr {
	r.lnMu.Lock()
	defer r.lnMu.Unlock()
	return r.ln.Addr()
}

// Run serves until ctx ends or the enclave cannot boot.
func (r *Runner) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	hello := &hostlink.Hello{ClientKeys: make([][]byte, 0, len(r.cfg.ClientKeys)), Mode: r.cfg.Mode}
	for _, k := range r.cfg.ClientKeys {
		hello.ClientKeys = append(hello.ClientKeys, k.Bytes())
	}
	if r.cfg.DevSealingKey != nil {
		hello.DevSealingKey = r.cfg.DevSealingKey.b[:]
	}
	defer r.witnesses.close()
	var wg sync.WaitGroup
	// Whatever ends Run (an enclave that cannot boot, too) ends the host
	// links first: they reconnect until their context ends.
	defer func() { cancel(); wg.Wait() }()
	for range r.cfg.HostLinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.keepHostLink(ctx, hello)
		}()
	}

	select {
	case <-ctx.Done():
		return nil
	case err := <-r.bootErr:
		return err
	case <-r.idKnown:
	case <-r.recovering:
	case <-r.genesis:
	}

	ln, err := net.Listen("tcp", r.cfg.Listen)
	if err != nil {
		return err
	}
	r.lnMu.Lock()
	r.ln = ln
	r.lnMu.Unlock()
	close(r.ready)
	r.log.Info("runner ready", "listen", ln.Addr().String())

	errc := make(chan error, 1)
	go func() { errc <- r.acceptLoop(ctx, ln) }()
	select {
	case <-ctx.Done():
		ln.Close()
		<-errc
		return nil
	case err := <-r.bootErr:
		ln.Close()
		<-errc
		return err
	case err := <-errc:
		return err
	}
}

func (r *Runner) onRecovering(identity []byte) {
	if len(identity) != len(r.recID) {
		return
	}
	r.recOnce.Do(func() {
		copy(r.recID[:], identity)
		close(r.recovering)
	})
}

func (r *Runner) onGenesis(identity []byte) {
	if len(identity) != len(r.genID) {
		return
	}
	r.genOnce.Do(func() {
		copy(r.genID[:], identity)
		close(r.genesis)
	})
}

func (r *Runner) onReady(identity []byte, bootErr error) {
	if bootErr != nil {
		select {
		case r.bootErr <- fmt.Errorf("enclave failed to boot: %w", bootErr):
		default:
		}
		return
	}
	var id wire.PublicKey
	if len(identity) != len(id) {
		r.log.Error("enclave reported a malformed identity")
		return
	}
	copy(id[:], identity)
	r.once.Do(func() {
		r.identity = id
		close(r.idKnown)
	})
	if !id.Equal(r.identity) {
		r.log.Error("an enclave reported another cluster identity", "got", id.String(), "want", r.identity.String())
	}
}

// keepHostLink keeps one host link open, reconnecting with backoff.
func (r *Runner) keepHostLink(ctx context.Context, hello *hostlink.Hello) {
	b := hostserve.StoreBackend(r.cfg.Store, r.log)
	delay := 50 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := r.hostLinkOnce(ctx, hello, b)
		if ctx.Err() != nil {
			return
		}
		r.log.Debug("host link down", "err", err)
		r.enclaveDown(err)
		if time.Since(start) > 10*time.Second {
			delay = 50 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Second)
	}
}

func (r *Runner) hostLinkOnce(ctx context.Context, hello *hostlink.Hello, b hostserve.Backend) error {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := sock.Dial(dctx, r.cfg.Enclave)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close()
	r.enclaveUp()
	if _, err := conn.Write([]byte{hostlink.ConnHost}); err != nil {
		return err
	}
	return hostserve.Serve(ctx, conn, hello, b, hostserve.Events{Ready: r.onReady, Recovering: r.onRecovering, Genesis: r.onGenesis, Join: r.cfg.Join, Witness: r.witnesses.relay})
}

// Reaching no enclave is logged as a warning after downWarnAfter, then
// every downWarnEvery while it lasts.
const (
	downWarnAfter = 3 * time.Second
	downWarnEvery = 30 * time.Second
)

func (r *Runner) enclaveUp() {
	r.downMu.Lock()
	r.downSince, r.warnedAt = time.Time{}, time.Time{}
	r.downMu.Unlock()
}

func (r *Runner) enclaveDown(err error) {
	now := time.Now()
	r.downMu.Lock()
	defer r.downMu.Unlock()
	if r.downSince.IsZero() {
		r.downSince = now
	}
	if now.Sub(r.downSince) < downWarnAfter || (!r.warnedAt.IsZero() && now.Sub(r.warnedAt) < downWarnEvery) {
		return
	}
	r.warnedAt = now
	r.log.Warn("no enclave answers at "+r.cfg.Enclave+": is secretd enclave running, listening there? Waiting for it",
		"for", now.Sub(r.downSince).Round(time.Second).String(), "err", err)
}

func (r *Runner) acceptLoop(ctx context.Context, ln net.Listener) error {
	sem := make(chan struct{}, r.cfg.MaxConns)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		select {
		case sem <- struct{}{}:
		default:
			// Over the limit: answer like the enclave would, in the
			// negotiation frame, and close.
			_ = wire.WriteFrame(c, []byte(wire.RefuseBusy))
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			r.relay(ctx, c)
		}()
	}
}

// relay copies bytes between a client and a new enclave connection until
// either side closes. It never looks inside: the stream is Noise
// ciphertext after the handshake's first frames.
func (r *Runner) relay(ctx context.Context, client net.Conn) {
	defer client.Close()
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	enc, err := sock.Dial(dctx, r.cfg.Enclave)
	cancel()
	if err != nil {
		r.log.Warn("enclave unreachable", "err", err)
		return
	}
	defer enc.Close()
	if _, err := enc.Write([]byte{hostlink.ConnClient}); err != nil {
		return
	}
	stop := context.AfterFunc(ctx, func() { client.Close(); enc.Close() })
	defer stop()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		// A plain read/write loop: io.Copy would splice(2) through a pipe,
		// two extra syscalls per message that cost more than copying the
		// few hundred bytes of a typical RPC.
		buf := make([]byte, 32<<10)
		_, _ = io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, buf)
		// Either side ending ends the session: close both so the other
		// copy returns too.
		client.Close()
		enc.Close()
		done <- struct{}{}
	}
	go pipe(enc, client)
	go pipe(client, enc)
	<-done
	<-done
}
