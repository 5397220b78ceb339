package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/cosmos/go-bip39"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	decredecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/ceremony"
	"github.com/niomon/niomon/internal/hd"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/policy/policytest"
	"github.com/niomon/niomon/internal/runner"
	"github.com/niomon/niomon/internal/store"
	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/internal/witness"
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

// benchEnv is one enclave process and an in-process runner on a
// temporary store.
type benchEnv struct {
	addr, id string
	key      secretd.Key
	enclave  *os.Process
	stop     func()
}

// newBenchEnv starts an enclave process with encArgs and a runner, runs
// the dev genesis, and returns them.
func newBenchEnv(encArgs ...string) (*benchEnv, error) {
	return newBenchEnvWitnessed(false, encArgs...)
}

// newBenchEnvWitnessed is newBenchEnv, with one freshness witness (in
// this process, on loopback) if witnessed.
func newBenchEnvWitnessed(witnessed bool, encArgs ...string) (*benchEnv, error) {
	dir, err := os.MkdirTemp("", "sdb")
	if err != nil {
		return nil, err
	}
	sock := "unix:" + filepath.Join(dir, "e.sock")
	exe, _ := os.Executable()
	p, err := os.StartProcess(exe, append([]string{exe, "enclave", "--dev", "--listen", sock, "--log-level", "warn"}, encArgs...),
		&os.ProcAttr{Env: append(os.Environ(), "SECRETD_TEST_AS_MAIN=1"), Files: []*os.File{nil, os.Stderr, os.Stderr}})
	if err != nil {
		return nil, err
	}
	env := &benchEnv{enclave: p}
	st, err := store.OpenSQLite(filepath.Join(dir, "secretd.db"))
	if err != nil {
		return nil, err
	}
	dk, _ := runner.LoadOrCreateDevSealingKey(dir)
	env.key, _ = secretd.GenerateKey()
	pub, _ := wire.ParsePublicKey(env.key.PublicKey())
	ctx, cancel := context.WithCancel(context.Background())
	var witnesses []string
	var specs []api.WitnessSpec
	witnessDone := make(chan struct{})
	close(witnessDone)
	if witnessed {
		w, err := witness.Open(ctx, witness.Config{Data: filepath.Join(dir, "witness")})
		if err != nil {
			cancel()
			return nil, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			cancel()
			w.Close()
			return nil, err
		}
		witnessDone = make(chan struct{})
		go func() { _ = w.Serve(ctx, ln); w.Close(); close(witnessDone) }()
		witnesses = []string{ln.Addr().String()}
		specs = []api.WitnessSpec{{Name: "bench-witness", Key: w.PublicKey()}}
	}
	r, err := runner.New(runner.Config{Listen: "127.0.0.1:0", Enclave: sock, Store: st, ClientKeys: []wire.PublicKey{pub}, DevSealingKey: dk, Witnesses: witnesses})
	if err != nil {
		cancel()
		return nil, err
	}
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	env.stop = func() {
		cancel()
		<-done
		<-witnessDone
		st.Close()
		_ = p.Signal(os.Interrupt)
		_, _ = p.Wait()
		os.RemoveAll(dir)
	}
	select {
	case <-r.Ready():
	case <-time.After(20 * time.Second):
		env.stop()
		return nil, fmt.Errorf("bench cluster not ready")
	}
	if _, err := ceremony.Dev(ctx, r.Addr().String(), r.GenesisIdentity().Bytes(), env.key, filepath.Join(dir, "dev-genesis"), specs, len(specs)); err != nil {
		env.stop()
		return nil, err
	}
	env.addr, env.id = r.Addr().String(), r.Identity().String()
	return env, nil
}

// benchCluster is the enclave shared by the end-to-end benchmarks.
var benchCluster struct {
	once sync.Once
	err  error
	*benchEnv
}

func startBenchCluster(b *testing.B) {
	bc := &benchCluster
	bc.once.Do(func() {
		// The signing benchmarks send more stamped requests within two
		// minutes than the default cache holds; in production that is a
		// refusal (fail closed), not a benchmark failure.
		bc.benchEnv, bc.err = newBenchEnv("--dev-allow-plaintext-import", "--replay-cache", "4000000")
		if bc.err != nil {
			return
		}
		c, err := secretd.Dial(context.Background(), bc.addr, secretd.Options{Identity: bc.id, Key: bc.key, PoolSize: 1})
		if err != nil {
			bc.err = err
			return
		}
		defer c.Close()
		_, bc.err = c.ImportWalletPlaintext(context.Background(), "bench", benchMnemonic, nil, "")
	})
	if bc.err != nil {
		b.Fatal(bc.err)
	}
}

func stopBenchCluster() {
	if benchCluster.benchEnv != nil {
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

// The signing benchmarks compare hdwallet_sign end to end (stamp check,
// derivation from the cached parent, signature, over the real client →
// runner → enclave process path) with the raw cryptography a request
// needs, measured in-process in the same run:
//
//	go test ./cmd/secretd -run '^$' -bench Sign -benchtime 3s
//
// Requests are stamped before the timer starts: stamping is the user's
// device's work, not the service's.

// stampedRequests makes n sign requests for oid, stamped by st.
func stampedRequests(b *testing.B, c *secretd.Client, id string, oid string, n int, p secretd.SignParams, st func([]byte) *secretd.Stamp) [][2]any {
	b.Helper()
	idKey, err := wire.ParsePublicKey(id)
	if err != nil {
		b.Fatal(err)
	}
	out := make([][2]any, n)
	for i := range out {
		nonce := make([]byte, 16)
		rand.Read(nonce)
		p.Path = fmt.Sprintf("m/44'/60'/0'/0/%d", i%64)
		if p.Scheme == secretd.SchemeEd25519 {
			p.Path = fmt.Sprintf("m/44'/501'/%d'/0'", i%64)
		}
		req, err := policy.Encode(policy.MethodSign, oid, p, idKey.Bytes(), time.Now().UnixMilli(), nonce)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = [2]any{req, st(req)}
	}
	return out
}

type signBench struct {
	key     *secretd.P256Key
	passkey *policytest.Authenticator
}

var signSetup struct {
	once sync.Once
	sb   signBench
	err  error
}

func startSignBench(b *testing.B) *signBench {
	startBenchCluster(b)
	s := &signSetup
	s.once.Do(func() {
		bc := &benchCluster
		c, err := secretd.Dial(context.Background(), bc.addr, secretd.Options{Identity: bc.id, Key: bc.key, PoolSize: 1})
		if err != nil {
			s.err = err
			return
		}
		defer c.Close()
		if s.sb.key, err = secretd.NewP256Key(secretd.KindAPIKey, time.Time{}, secretd.RightSign, secretd.RightPolicy); err != nil {
			s.err = err
			return
		}
		s.sb.passkey = policytest.NewAuthenticator(b, policy.AlgEdDSA, "wallet.example", []string{"https://wallet.example"}, secretd.RightSign, secretd.RightPolicy)
		if _, s.err = c.CreateWallet(context.Background(), "sign-bench", secretd.CreateOptions{}, s.sb.key); s.err != nil {
			return
		}
		_, s.err = c.CreateWallet(context.Background(), "sign-bench-ed", secretd.CreateOptions{}, benchPasskey{b, s.sb.passkey})
	})
	if s.err != nil {
		b.Fatal(s.err)
	}
	return &s.sb
}

type benchPasskey struct {
	b *testing.B
	a *policytest.Authenticator
}

func (p benchPasskey) Credential() secretd.Credential { return p.a.Cred }
func (p benchPasskey) Stamp(req []byte) (*secretd.Stamp, error) {
	return p.a.Stamp(p.b, req), nil
}

// runRequests sends reqs over sessions clients and returns each call's
// latency.
func runRequests(b *testing.B, sessions int, reqs [][2]any) []time.Duration {
	bc := &benchCluster
	clients := make([]*secretd.Client, sessions)
	for i := range clients {
		c, err := secretd.Dial(context.Background(), bc.addr, secretd.Options{Identity: bc.id, Key: bc.key, PoolSize: 1})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		clients[i] = c
	}
	lat := make([]time.Duration, len(reqs))
	b.ResetTimer()
	var wg sync.WaitGroup
	for s, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var res secretd.SignResult
			for i := s; i < len(reqs); i += sessions {
				t0 := time.Now()
				if err := c.Call(context.Background(), "hdwallet_sign", reqs[i][:], &res); err != nil {
					b.Error(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	return lat
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

func BenchmarkSign(b *testing.B) {
	digest := sha256.Sum256([]byte("bench"))
	msg := []byte("a Solana message of some length, about like a transfer")

	// Raw: what one request costs in cryptography alone.
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	stampSig, _ := ecdsa.SignASN1(rand.Reader, p256, digest[:])
	k1, _ := secp256k1.GeneratePrivateKey()
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	edSig := ed25519.Sign(edPriv, msg)
	rawSecp := func() {
		if !ecdsa.VerifyASN1(&p256.PublicKey, digest[:], stampSig) {
			b.Fatal("verify")
		}
		_ = decredecdsa.SignCompact(k1, digest[:], false)
	}
	rawEd := func() {
		if !ed25519.Verify(edPub, msg, edSig) {
			b.Fatal("verify")
		}
		_ = ed25519.Sign(edPriv, msg)
	}
	for _, raw := range []struct {
		name string
		f    func()
	}{{"raw/p256-verify+secp256k1-sign", rawSecp}, {"raw/ed25519-verify+sign", rawEd}} {
		b.Run(raw.name+"/1-core", func(b *testing.B) {
			for range b.N {
				raw.f()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
		b.Run(raw.name+"/all-cores", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					raw.f()
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
	}

	sb := startSignBench(b)
	bc := &benchCluster
	c, err := secretd.Dial(context.Background(), bc.addr, secretd.Options{Identity: bc.id, Key: bc.key, PoolSize: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		name   string
		oid    string
		params secretd.SignParams
		stamp  func([]byte) *secretd.Stamp
	}{
		{"e2e/secp256k1+p256-stamp", "sign-bench", secretd.SignParams{Scheme: secretd.SchemeSecp256k1, Digest: digest[:]}, func(r []byte) *secretd.Stamp {
			s, _ := sb.key.Stamp(r)
			return s
		}},
		{"e2e/ed25519+ed25519-passkey-stamp", "sign-bench-ed", secretd.SignParams{Scheme: secretd.SchemeEd25519, Message: msg}, func(r []byte) *secretd.Stamp {
			return sb.passkey.Stamp(b, r)
		}},
	} {
		for _, sessions := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/sessions=%d", tc.name, sessions), func(b *testing.B) {
				reqs := stampedRequests(b, c, bc.id, tc.oid, b.N, tc.params, tc.stamp)
				cpu0 := procCPU(b, bc.enclave.Pid)
				lat := runRequests(b, sessions, reqs)
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
				// The enclave's own CPU per request: what one enclave core
				// sustains when the load generator and the runner are
				// elsewhere, as they are in Nitro (the enclave has its own
				// vCPUs).
				b.ReportMetric(float64((procCPU(b, bc.enclave.Pid)-cpu0).Microseconds())/float64(b.N), "enclave-cpu-µs/call")
				reportLatency(b, lat)
			})
		}
	}
}

// procCPU is a process's user plus system CPU time so far.
func procCPU(b testing.TB, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which ends with ") "): utime is the
	// 12th, stime the 13th, in clock ticks (100 per second on Linux).
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
