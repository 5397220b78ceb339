// Package testcluster starts a real secretd cluster inside a test: a dev
// enclave serving on a Unix socket, a runner relaying to it over real
// sockets, and a SQLite store in a temporary directory. Nothing is mocked;
// only the process boundary is missing (cmd/secretd's tests have that).
package testcluster

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/attest"
	"github.com/niomon/niomon/internal/attest/devattest"
	"github.com/niomon/niomon/internal/ceremony"
	"github.com/niomon/niomon/internal/enclave"
	"github.com/niomon/niomon/internal/runner"
	"github.com/niomon/niomon/internal/sock"
	"github.com/niomon/niomon/internal/store"
	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/internal/witness"
	"github.com/niomon/niomon/secretd"
)

// Options tune a cluster.
type Options struct {
	// Data is the runner's data directory; a new temporary one when empty.
	// Reuse it to restart a cluster with the same state.
	Data string
	// ExtraClientKeys are allowed besides the cluster's own Key.
	ExtraClientKeys []wire.PublicKey
	// CacheSize bounds the enclave's wallet cache (0: default).
	CacheSize int
	// ReplayCacheSize bounds the enclave's replay cache (0: default); one
	// wallet may hold 1/64 of it.
	ReplayCacheSize int
	// AllowPlaintextImport enables the dev-only import method.
	AllowPlaintextImport bool
	// NoWitness makes a cluster without a freshness witness (as a dev
	// cluster may be). By default the cluster has one, in-process, with
	// its state in Data/witness.
	NoWitness bool
}

// Measurement is the dev measurement (PCR0) of a testcluster enclave: the
// SHA-384 of the test binary.
func Measurement(t testing.TB) []byte {
	m, err := devattest.Measure(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Cluster is a running enclave and runner.
type Cluster struct {
	Addr     string
	Identity string
	Key      secretd.Key // on the allow-list
	Data     string
	Store    store.Store
	Enclave  *enclave.Enclave

	cancel context.CancelFunc
	done   chan struct{}
	stop   sync.Once
}

// Start starts a cluster and stops it when the test ends.
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	if o.Data == "" {
		o.Data = t.TempDir()
	}
	sockDir, err := os.MkdirTemp("", "sdt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sockAddr := "unix:" + filepath.Join(sockDir, "e.sock")

	m, _ := devattest.Measure(os.Args[0])
	att, err := devattest.New(m)
	if err != nil {
		t.Fatal(err)
	}
	e, err := enclave.New(enclave.Config{
		Dev: true, Attester: att, CacheSize: o.CacheSize, ReplayCacheSize: o.ReplayCacheSize, AllowPlaintextImport: o.AllowPlaintextImport,
		PeerPolicy: attest.Policy{Roots: devattest.Roots(), PCRs: map[int][]byte{0: m}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := sock.Listen(sockAddr)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(filepath.Join(o.Data, "secretd.db"))
	if err != nil {
		t.Fatal(err)
	}
	devKey, err := runner.LoadOrCreateDevSealingKey(o.Data)
	if err != nil {
		t.Fatal(err)
	}
	key := loadOrCreateKey(t, filepath.Join(o.Data, "test-client.key"))
	pub, _ := wire.ParsePublicKey(key.PublicKey())
	ctx, cancel := context.WithCancel(context.Background())
	var witnesses []string
	var specs []api.WitnessSpec
	if !o.NoWitness {
		w, err := witness.Open(ctx, witness.Config{Data: filepath.Join(o.Data, "witness")})
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		wln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		witnessDone := make(chan struct{})
		go func() { _ = w.Serve(ctx, wln); w.Close(); close(witnessDone) }()
		t.Cleanup(func() { cancel(); <-witnessDone })
		witnesses = []string{wln.Addr().String()}
		specs = []api.WitnessSpec{{Name: "test-witness", Key: w.PublicKey()}}
	}
	r, err := runner.New(runner.Config{
		Listen: "127.0.0.1:0", Enclave: sockAddr, Store: st,
		ClientKeys: append([]wire.PublicKey{pub}, o.ExtraClientKeys...), DevSealingKey: devKey, Witnesses: witnesses,
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	c := &Cluster{Key: key, Data: o.Data, Store: st, Enclave: e, cancel: cancel, done: make(chan struct{})}
	enclaveDone := make(chan struct{})
	go func() { _ = e.Serve(ctx, ln); close(enclaveDone) }()
	runErr := make(chan error, 1)
	go func() { runErr <- r.Run(ctx); <-enclaveDone; close(c.done) }()
	select {
	case <-r.Ready():
	case err := <-runErr:
		cancel()
		t.Fatalf("runner: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("cluster not ready after 10s")
	}
	// A new store: the cluster is born in its genesis ceremony, with dev
	// holders whose identities and shares are kept in Data/dev-genesis.
	select {
	case <-r.Genesis():
		gctx, gcancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := ceremony.Dev(gctx, r.Addr().String(), r.GenesisIdentity().Bytes(), key, filepath.Join(o.Data, "dev-genesis"), specs, len(specs))
		gcancel()
		if err != nil {
			cancel()
			t.Fatalf("genesis: %v", err)
		}
	default:
	}
	select {
	case <-r.Identified():
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("the cluster has no identity after 10s")
	}
	c.Addr, c.Identity = r.Addr().String(), r.Identity().String()
	t.Cleanup(c.Stop)
	return c
}

// Stop stops the cluster and closes its store. It is safe to call twice.
func (c *Cluster) Stop() {
	c.stop.Do(func() {
		c.cancel()
		<-c.done
		c.Store.Close()
	})
}

// Dial returns a client of the cluster, closed when the test ends.
func (c *Cluster) Dial(t testing.TB, o secretd.Options) *secretd.Client {
	t.Helper()
	if o.Identity == "" {
		o.Identity = c.Identity
	}
	if o.Key == (secretd.Key{}) {
		o.Key = c.Key
	}
	cl, err := secretd.Dial(context.Background(), c.Addr, o)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// DialRaw opens a plain TCP connection to the runner.
func (c *Cluster) DialRaw(t testing.TB) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", c.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

func loadOrCreateKey(t testing.TB, path string) secretd.Key {
	if k, err := secretd.LoadKeyFile(path); err == nil {
		return k
	}
	k, err := secretd.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, k.MarshalKeyFile(), 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}
