package main

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/niomon/niomon/secretd"
)

// BenchmarkReplicaWrites measures what a wallet creation and a policy
// change cost with three enclave replicas (sharing one store and one
// witness) against one, in the same run, through real processes:
//
//	go test ./cmd/secretd -run '^$' -bench ReplicaWrites -benchtime 10x
//
// A creation is a batch store write and a witness commit in both cases.
// A policy change is acknowledged only once every other replica's read
// lease has run out (fresh.go), so with replicas it waits up to a lease.
func BenchmarkReplicaWrites(b *testing.B) {
	perOp := map[string]time.Duration{}
	for _, replicas := range []int{1, 3} {
		dir := shortTempDir(b)
		w := startProc(b, "witness", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "witness"))
		w.waitFor("witness_key")
		witnessAddr := w.waitFor("listen")
		keyFile := filepath.Join(dir, "app.key")
		if code, _, stderr := cli(b, "keygen", "--out", keyFile); code != 0 {
			b.Fatal(stderr)
		}
		key := loadKey(b, keyFile)
		data := filepath.Join(dir, "data")
		var first, identity string
		for i := range replicas {
			sock := "unix:" + filepath.Join(dir, fmt.Sprintf("e%d.sock", i))
			startProc(b, "enclave", "--dev", "--listen", sock, "--log-level", "warn")
			args := []string{"runner", "--dev", "--listen", "127.0.0.1:0", "--enclave", sock, "--data", data, "--client-key", key.PublicKey(), "--witness", witnessAddr, "--log-level", "warn"}
			if i == 0 {
				args = append(args, "--dev-genesis")
			} else {
				args = append(args, "--join", first, "--join-identity", identity, "--join-key", keyFile)
			}
			run := startProc(b, args...)
			addr := run.waitFor("listen")
			id := run.waitFor("cluster_identity")
			if i == 0 {
				first, identity = addr, id
			}
		}
		// Every replica holds a read lease by now, as in a running cluster.
		time.Sleep(time.Second)
		c := dial(b, first, identity, key)
		k1, _ := secretd.NewP256Key(secretd.KindAPIKey, time.Time{}, secretd.RightSign, secretd.RightPolicy)
		k2, _ := secretd.NewP256Key(secretd.KindAPIKey, time.Time{}, secretd.RightSign, secretd.RightPolicy)
		b.Run(fmt.Sprintf("create/replicas=%d", replicas), func(b *testing.B) {
			for i := range b.N {
				k, _ := secretd.NewP256Key(secretd.KindAPIKey, time.Time{}, secretd.RightSign, secretd.RightPolicy)
				if _, err := c.CreateWallet(ctx(b), fmt.Sprintf("w-%d-%d", b.N, i), secretd.CreateOptions{}, k); err != nil {
					b.Fatal(err)
				}
			}
			perOp[fmt.Sprint("create", replicas)] = b.Elapsed() / time.Duration(b.N)
			reportRatio(b, perOp, "create")
		})
		b.Run(fmt.Sprintf("policy-change/replicas=%d", replicas), func(b *testing.B) {
			oid := fmt.Sprintf("p-%d", b.N)
			rc, err := c.CreateWallet(ctx(b), oid, secretd.CreateOptions{}, k1)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			// Alternate adding and removing k2, stamped by k1.
			for i := range b.N {
				ch, want := secretd.PolicyChange{Add: []secretd.Credential{k2.Credential()}}, []secretd.Credential{k1.Credential(), k2.Credential()}
				proofs := []secretd.Stamper{k2}
				if i%2 == 1 {
					ch, want, proofs = secretd.PolicyChange{Remove: [][]byte{k2.Credential().ID}}, []secretd.Credential{k1.Credential()}, nil
				}
				if rc, err = c.UpdatePolicy(ctx(b), oid, rc.Version, ch, k1, want, proofs...); err != nil {
					b.Fatal(err)
				}
			}
			perOp[fmt.Sprint("policy-change", replicas)] = b.Elapsed() / time.Duration(b.N)
			reportRatio(b, perOp, "policy-change")
		})
	}
}

// reportRatio reports ms per operation and, for three replicas, the ratio
// to one.
func reportRatio(b *testing.B, perOp map[string]time.Duration, op string) {
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/op")
	one, three := perOp[op+"1"], perOp[op+"3"]
	if one > 0 && three > 0 {
		b.ReportMetric(float64(three)/float64(one), "3-replicas/1")
	}
}
