package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/secretd"
)

// The cold path: with many users, most requests are for a wallet the
// enclave does not hold in memory. BenchmarkColdPath runs a real cluster
// (an enclave process whose cache holds 64 wallets and a runner process;
// the benchmark is the client), makes 2,000 wallets, and compares, over
// one session and in the same window, requests that always hit the cache
// (one wallet) with requests that always miss it (the 2,000 in turn),
// alternating in blocks so both see the same load on the machine. It
// does the same with a witness, and with the runner in the benchmark's
// own process:
//
//	go test ./cmd/secretd -run '^$' -bench ColdPath -benchtime 2000x
//
// Each benchmark reports its cold calls/s, the hot calls/s measured
// between its blocks, and their ratio.
const (
	coldCache   = 64
	coldWallets = 2000
)

type coldEnv struct {
	*benchEnv
	keys []*secretd.P256Key
}

// coldMode is how a cold-path cluster runs.
type coldMode struct {
	prefix string // of the benchmarks' names
	// runnerInProcess: the runner runs in the benchmark's process, beside
	// the client (as the other end-to-end benchmarks have it); else it is
	// its own process, as deployed.
	runnerInProcess bool
	witnessed       bool // with one freshness witness (its own process, or in this one)
}

var coldModes = []coldMode{
	{prefix: ""},
	{prefix: "witness/", witnessed: true},
	{prefix: "runner-in-process/", runnerInProcess: true},
}

// coldSetup is the cold-path cluster of each mode, made once per run.
var coldSetup = map[coldMode]*struct {
	env *coldEnv
	err error
}{}

// newColdCluster starts a cluster as it is deployed: an enclave process
// whose cache holds coldCache wallets, a runner process, with a witness
// process if witnessed; the benchmark is the client.
func newColdCluster(b *testing.B, witnessed bool) *benchEnv {
	dir := shortTempDir(b)
	sock := "unix:" + filepath.Join(dir, "e.sock")
	enc := startProc(b, "enclave", "--dev", "--listen", sock, "--log-level", "warn", "--cache-size", fmt.Sprint(coldCache), "--replay-cache", "4000000")
	keyFile := filepath.Join(dir, "app.key")
	if code, _, stderr := cli(b, "keygen", "--out", keyFile); code != 0 {
		b.Fatal(stderr)
	}
	key := loadKey(b, keyFile)
	args := []string{"runner", "--dev", "--dev-genesis", "--listen", "127.0.0.1:0", "--enclave", sock, "--data", filepath.Join(dir, "data"),
		"--client-key", key.PublicKey(), "--log-level", "warn"}
	if witnessed {
		w := startProc(b, "witness", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "witness"))
		w.waitFor("witness_key")
		args = append(args, "--witness", w.waitFor("listen"))
	}
	run := startProc(b, args...)
	addr := run.waitFor("listen")
	return &benchEnv{addr: addr, id: run.waitFor("cluster_identity"), key: key, enclave: enc.cmd.Process, stop: func() {}}
}

func startColdEnv(b *testing.B, mode coldMode) *coldEnv {
	if cs, ok := coldSetup[mode]; ok {
		if cs.err != nil {
			b.Fatal(cs.err)
		}
		return cs.env
	}
	cs := &struct {
		env *coldEnv
		err error
	}{}
	coldSetup[mode] = cs
	var env *benchEnv
	if mode.runnerInProcess {
		var err error
		if env, err = newBenchEnvWitnessed(mode.witnessed, "--cache-size", fmt.Sprint(coldCache), "--replay-cache", "4000000"); err != nil {
			cs.err = err
			b.Fatal(err)
		}
	} else {
		env = newColdCluster(b, mode.witnessed)
	}
	b.Cleanup(env.stop)
	ce := &coldEnv{benchEnv: env}
	c, err := secretd.Dial(context.Background(), env.addr, secretd.Options{Identity: env.id, Key: env.key, PoolSize: 4})
	if err != nil {
		cs.err = err
		b.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	for i := range coldWallets {
		k, err := secretd.NewP256Key(secretd.KindAPIKey, time.Time{}, secretd.RightSign, secretd.RightPolicy)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.CreateWallet(context.Background(), coldOID(i), secretd.CreateOptions{}, k); err != nil {
			cs.err = err
			b.Fatal(err)
		}
		ce.keys = append(ce.keys, k)
		if (i+1)%500 == 0 {
			b.Logf("made %d of %d wallets (%.1fs)", i+1, coldWallets, time.Since(start).Seconds())
		}
	}
	cs.env = ce
	return ce
}

func coldOID(i int) string { return fmt.Sprintf("cold-%04d", i%coldWallets) }

func BenchmarkColdPath(b *testing.B) {
	// With one freshness witness, as production runs, a cold wallet's
	// index bucket comes from the index cache under the read lease, which
	// is renewed (a witness round trip) every few seconds. With the runner
	// in the client's process, a hot request crosses two process
	// boundaries instead of four, and a cold one four instead of six.
	for _, mode := range coldModes {
		benchmarkColdPath(b, startColdEnv(b, mode), mode.prefix)
	}
}

func benchmarkColdPath(b *testing.B, ce *coldEnv, prefix string) {
	c, err := secretd.Dial(context.Background(), ce.addr, secretd.Options{Identity: ce.id, Key: ce.key, PoolSize: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	idKey, err := wire.ParsePublicKey(ce.id)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("cold"))
	// which maps request i to its wallet: always the first (hot), or the
	// next of 2,000 (cold: each was evicted 1,936 wallets ago).
	hot := func(int) int { return 0 }
	cold := func(i int) int { return i }
	xpub := func(which func(int) int, path string) func(i int) error {
		return func(i int) error {
			_, err := c.ExtendedPublicKey(context.Background(), coldOID(which(i)), path)
			return err
		}
	}
	sign := func(b *testing.B, which func(int) int, path string) func(i int) error {
		reqs := ce.signRequests(b, idKey, which, path, digest[:])
		return func(i int) error {
			var res secretd.SignResult
			return c.Call(context.Background(), "hdwallet_sign", reqs[i][:], &res)
		}
	}
	// A cold benchmark measures its hot baseline in the same window: hot
	// and cold requests alternate in blocks, so the machine's load while
	// one is measured is the load while the other is. cold-index-7 signs
	// at an address the wallet does not seal (its account's first is
	// sealed with it): one derivation step more.
	for _, tc := range []struct {
		name     string
		path     string
		inFlight int
	}{
		{"cold", "m/44'/60'/0'/0/0", 1},
		{"cold-index-7", "m/44'/60'/0'/0/7", 1},
		// As a server with many users sends them: a miss's store round
		// trip overlaps other requests' work, and misses use every core.
		{fmt.Sprintf("cold/in-flight=%d", coldInFlight), "m/44'/60'/0'/0/0", coldInFlight},
	} {
		if tc.inFlight == 1 {
			b.Run(prefix+"xpub/"+tc.name, func(b *testing.B) {
				alternate(b, ce, xpub(hot, tc.path), xpub(cold, tc.path), 1)
			})
		}
		b.Run(prefix+"sign/"+tc.name, func(b *testing.B) {
			alternate(b, ce, sign(b, hot, tc.path), sign(b, cold, tc.path), tc.inFlight)
		})
	}
}

// coldInFlight is how many requests the in-flight benchmarks keep going.
const coldInFlight = 8

// coldBlock is how many requests run before the benchmark switches
// between hot and cold: fewer than the cache holds, so the hot wallet is
// still cached after a cold block.
const coldBlock = 48

// alternate runs hot(i) and cold(i) for i < b.N in alternating blocks of
// coldBlock, inFlight at a time, and times only the cold ones. It reports
// the cold calls/s, the hot calls/s of the same window, their ratio, and
// the enclave's CPU per cold call.
func alternate(b *testing.B, ce *coldEnv, hot, cold func(i int) error, inFlight int) {
	var hotTime, cpu time.Duration
	b.ResetTimer()
	for start := 0; start < b.N; start += coldBlock {
		end := min(start+coldBlock, b.N)
		b.StopTimer()
		t := time.Now()
		runBlock(b, hot, start, end, inFlight)
		hotTime += time.Since(t)
		cpu0 := procCPU(b, ce.enclave.Pid)
		b.StartTimer()
		runBlock(b, cold, start, end, inFlight)
		b.StopTimer()
		cpu += procCPU(b, ce.enclave.Pid) - cpu0
		b.StartTimer()
	}
	b.StopTimer()
	coldRate := float64(b.N) / b.Elapsed().Seconds()
	hotRate := float64(b.N) / hotTime.Seconds()
	b.ReportMetric(coldRate, "calls/s")
	b.ReportMetric(hotRate, "hot-calls/s")
	b.ReportMetric(coldRate/hotRate, "cold/hot")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "enclave-cpu-µs/call")
}

// runBlock calls f(i) for start <= i < end, inFlight at a time.
func runBlock(b *testing.B, f func(i int) error, start, end, inFlight int) {
	if inFlight == 1 {
		for i := start; i < end; i++ {
			if err := f(i); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	var next atomic.Int64
	next.Store(int64(start))
	var wg sync.WaitGroup
	errs := make(chan error, inFlight)
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < end; i = int(next.Add(1) - 1) {
				if err := f(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// signRequests stamps b.N sign requests, request i for wallet which(i).
func (ce *coldEnv) signRequests(b *testing.B, idKey wire.PublicKey, which func(int) int, path string, digest []byte) [][2]any {
	reqs := make([][2]any, b.N)
	for i := range reqs {
		w := which(i) % coldWallets
		nonce := make([]byte, 16)
		rand.Read(nonce)
		req, err := policy.Encode(policy.MethodSign, coldOID(w), secretd.SignParams{Scheme: secretd.SchemeSecp256k1, Path: path, Digest: digest},
			idKey.Bytes(), time.Now().UnixMilli(), nonce)
		if err != nil {
			b.Fatal(err)
		}
		st, err := ce.keys[w].Stamp(req)
		if err != nil {
			b.Fatal(err)
		}
		reqs[i] = [2]any{req, st}
	}
	return reqs
}
