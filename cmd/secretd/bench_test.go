package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/cosmos/go-bip39"
	"github.com/niomon/niomon/internal/hd"
	"github.com/niomon/niomon/internal/runner"
	"github.com/niomon/niomon/internal/store"
	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/secretd"
)

// The xpub benchmarks compare hdwallet_get_extended_public_key end to end
// (client → TCP → runner → Unix socket → enclave process → back) with the
// same BIP32 derivation done in-process, in one run:
//
//	go test ./cmd/secretd -run '^$' -bench Xpub -benchtime 3s
//
// The ratio e2e/raw is the figure of merit; absolute numbers move with
// the machine.

const benchMnemonic = "legal winner thank year wave sausage worth useful legal winner thank yellow"

func benchPath(i int) string { return fmt.Sprintf("m/44'/60'/0'/0/%d", i%1000) }

func benchPathParsed(b *testing.B, i int) hd.Path {
	p, err := hd.ParsePath(benchPath(i))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func BenchmarkXpubRawDerivation(b *testing.B) {
	m, err := hd.ParseMnemonic(benchMnemonic)
	if err != nil {
		b.Fatal(err)
	}
	master, err := hd.NewMaster(m.Seed(""), hd.Secp256k1)
	if err != nil {
		b.Fatal(err)
	}
	paths := make([]hd.Path, 1000)
	for i := range paths {
		paths[i] = benchPathParsed(b, i)
	}
	b.Run("hd/1-core", func(b *testing.B) {
		for i := range b.N {
			n, err := master.Derive(paths[i%len(paths)])
			if err != nil {
				b.Fatal(err)
			}
			if _, err := n.ExtendedPublicKey(); err != nil {
				b.Fatal(err)
			}
			n.Wipe()
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	})
	b.Run("hd/all-cores", func(b *testing.B) {
		var mu sync.Mutex
		next := 0
		b.RunParallel(func(pb *testing.PB) {
			mu.Lock()
			i := next
			next += 7
			mu.Unlock()
			for pb.Next() {
				i++
				n, _ := master.Derive(paths[i%len(paths)])
				_, _ = n.ExtendedPublicKey()
				n.Wipe()
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	})
	// What the enclave does per call once a wallet's parent node is
	// cached: one child and its xpub.
	b.Run("hd-from-parent/1-core", func(b *testing.B) {
		parent, err := master.Derive(paths[0][:4])
		if err != nil {
			b.Fatal(err)
		}
		for i := range b.N {
			n, err := parent.Child(paths[i%len(paths)][4])
			if err != nil {
				b.Fatal(err)
			}
			if _, err := n.ExtendedPublicKey(); err != nil {
				b.Fatal(err)
			}
			n.Wipe()
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	})
	b.Run("hdkeychain/1-core", func(b *testing.B) {
		k, _ := hdkeychain.NewMaster(bip39.NewSeed(benchMnemonic, ""), &chaincfg.MainNetParams)
		for i := range b.N {
			n := k
			for _, c := range paths[i%len(paths)] {
				n, _ = n.Derive(c)
			}
			nn, _ := n.Neuter()
			_ = nn.String()
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	})
}

// benchCluster is one enclave process and an in-process runner, shared by
// the end-to-end benchmarks.
var benchCluster struct {
	once     sync.Once
	err      error
	addr, id string
	key      secretd.Key
	enclave  *os.Process
	stop     func()
}

func startBenchCluster(b *testing.B) {
	bc := &benchCluster
	bc.once.Do(func() {
		dir, err := os.MkdirTemp("", "sdb")
		if err != nil {
			bc.err = err
			return
		}
		sock := "unix:" + filepath.Join(dir, "e.sock")
		exe, _ := os.Executable()
		p, err := os.StartProcess(exe, []string{exe, "enclave", "--dev", "--dev-allow-plaintext-import", "--listen", sock, "--log-level", "warn"},
			&os.ProcAttr{Env: append(os.Environ(), "SECRETD_TEST_AS_MAIN=1"), Files: []*os.File{nil, os.Stderr, os.Stderr}})
		if err != nil {
			bc.err = err
			return
		}
		bc.enclave = p
		st, err := store.OpenSQLite(filepath.Join(dir, "secretd.db"))
		if err != nil {
			bc.err = err
			return
		}
		dk, _ := runner.LoadOrCreateDevSealingKey(dir)
		bc.key, _ = secretd.GenerateKey()
		pub, _ := wire.ParsePublicKey(bc.key.PublicKey())
		r, err := runner.New(runner.Config{Listen: "127.0.0.1:0", Enclave: sock, Store: st, ClientKeys: []wire.PublicKey{pub}, DevSealingKey: dk})
		if err != nil {
			bc.err = err
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = r.Run(ctx); close(done) }()
		bc.stop = func() {
			cancel()
			<-done
			st.Close()
			_ = p.Signal(os.Interrupt)
			_, _ = p.Wait()
			os.RemoveAll(dir)
		}
		select {
		case <-r.Ready():
		case <-time.After(20 * time.Second):
			bc.err = fmt.Errorf("bench cluster not ready")
			return
		}
		bc.addr, bc.id = r.Addr().String(), r.Identity().String()
		c, err := secretd.Dial(ctx, bc.addr, secretd.Options{Identity: bc.id, Key: bc.key, PoolSize: 1})
		if err != nil {
			bc.err = err
			return
		}
		defer c.Close()
		_, bc.err = c.ImportWalletPlaintext(ctx, "bench", benchMnemonic, nil, "")
	})
	if bc.err != nil {
		b.Fatal(bc.err)
	}
}

func stopBenchCluster() {
	if benchCluster.stop != nil {
		benchCluster.stop()
	}
}

func BenchmarkXpubEndToEnd(b *testing.B) {
	startBenchCluster(b)
	bc := &benchCluster
	for _, sessions := range []int{1, 8} {
		b.Run(fmt.Sprintf("sessions=%d", sessions), func(b *testing.B) {
			clients := make([]*secretd.Client, sessions)
			for i := range clients {
				c, err := secretd.Dial(context.Background(), bc.addr, secretd.Options{Identity: bc.id, Key: bc.key, PoolSize: 1})
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				clients[i] = c
			}
			ctx := context.Background()
			b.ResetTimer()
			var wg sync.WaitGroup
			for s, c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := s; i < b.N; i += sessions {
						if _, err := c.ExtendedPublicKey(ctx, "bench", benchPath(i)); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
			b.ReportMetric(float64(vmHWM(b, bc.enclave.Pid))/1024, "enclave-peak-MiB")
		})
	}
	b.Run("ping/sessions=1", func(b *testing.B) {
		c, err := secretd.Dial(context.Background(), bc.addr, secretd.Options{Identity: bc.id, Key: bc.key, PoolSize: 1})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		b.ResetTimer()
		for range b.N {
			if err := c.Ping(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	})
}
