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
// one session and in the same run, requests that always hit the cache
// (one wallet) with requests that always miss it (the 2,000 in turn). It
// does the same with a witness, and with the runner in the benchmark's
// own process:
//
//	go test ./cmd/secretd -run '^$' -bench ColdPath -benchtime 2000x
//
// The cold/hot ratio is reported on each cold benchmark.
const (
	coldCache   = 64
	coldWallets = 2000
)

type coldEnv struct {
	*benchEnv
	keys []*secretd.P256Key
	hot  map[string]float64 // calls/s of the hot benchmarks, by operation
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
	ce := &coldEnv{benchEnv: env, hot: map[string]float64{}}
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
	report := func(b *testing.B, op, temp string, cpu0 time.Duration) {
		rate := float64(b.N) / b.Elapsed().Seconds()
		b.ReportMetric(rate, "calls/s")
		b.ReportMetric(float64((procCPU(b, ce.enclave.Pid)-cpu0).Microseconds())/float64(b.N), "enclave-cpu-µs/call")
		if temp == "hot" {
			ce.hot[op] = rate
		} else if h := ce.hot[op]; h > 0 {
			b.ReportMetric(rate/h, "cold/hot")
		}
	}
	// cold-index-7 signs at an address the wallet does not seal (its
	// account's first is sealed with it): one derivation step more.
	for _, temp := range []string{"hot", "cold", "cold-index-7"} {
		which, path := hot, "m/44'/60'/0'/0/0"
		if temp != "hot" {
			which = cold
		}
		if temp == "cold-index-7" {
			path = "m/44'/60'/0'/0/7"
		}
		b.Run(prefix+"xpub/"+temp, func(b *testing.B) {
			cpu0 := procCPU(b, ce.enclave.Pid)
			for i := range b.N {
				if _, err := c.ExtendedPublicKey(context.Background(), coldOID(which(i)), path); err != nil {
					b.Fatal(err)
				}
			}
			report(b, "xpub", temp, cpu0)
		})
		b.Run(prefix+"sign/"+temp, func(b *testing.B) {
			reqs := ce.signRequests(b, idKey, which, path, digest[:])
			b.ResetTimer()
			cpu0 := procCPU(b, ce.enclave.Pid)
			var res secretd.SignResult
			for i := range reqs {
				if err := c.Call(context.Background(), "hdwallet_sign", reqs[i][:], &res); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			report(b, "sign", temp, cpu0)
		})
	}
	// The same session with coldInFlight requests in flight at once, as a
	// server with many users sends them: a miss's store round trip
	// overlaps other requests' work, and misses use every core.
	for _, temp := range []string{"hot", "cold"} {
		which := hot
		if temp == "cold" {
			which = cold
		}
		op := fmt.Sprintf("sign-in-flight-%d", coldInFlight)
		b.Run(fmt.Sprintf("%ssign/%s/in-flight=%d", prefix, temp, coldInFlight), func(b *testing.B) {
			reqs := ce.signRequests(b, idKey, which, "m/44'/60'/0'/0/0", digest[:])
			b.ResetTimer()
			cpu0 := procCPU(b, ce.enclave.Pid)
			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, coldInFlight)
			for range coldInFlight {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var res secretd.SignResult
					for i := int(next.Add(1) - 1); i < len(reqs); i = int(next.Add(1) - 1) {
						if err := c.Call(context.Background(), "hdwallet_sign", reqs[i][:], &res); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			report(b, op, temp, cpu0)
		})
	}
}

// coldInFlight is how many requests the in-flight benchmarks keep going.
const coldInFlight = 8

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
