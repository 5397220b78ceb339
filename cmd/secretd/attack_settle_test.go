package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/hostlink"
	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/internal/witness"
	"github.com/niomon/niomon/internal/witness/wproto"
	"github.com/niomon/niomon/secretd"
)

// Attacks on how a head settles across replicas, and on the size of
// certificates, found by an independent review of the witness protocol:
// the operator, with no colluding witness unless a test says so, against
// real witness, runner and enclave processes. All but the last two were
// working attacks before the fixes docs/secretd-security.md describes
// ("Settled heads"); the last two the review tried and found refused.

// replicaPair starts n witness processes and two enclaves of one cluster
// on one store: A (the genesis) and B (joined), each behind its own
// runner, and each runner reaching every witness through its own proxy
// (the operator controls each runner's network separately).
func replicaPair(t *testing.T, n int) (a, b *stack, ws []*reviewWitness, pa, pb []*wproxy) {
	t.Helper()
	dir := shortTempDir(t)
	var aAddrs, bAddrs []string
	for i := range n {
		w := startReviewWitness(t, filepath.Join(dir, fmt.Sprintf("witness-%d", i+1)))
		p, q := startWProxy(t, w.addr), startWProxy(t, w.addr)
		ws, pa, pb = append(ws, w), append(pa, p), append(pb, q)
		aAddrs, bAddrs = append(aAddrs, p.addr()), append(bAddrs, q.addr())
	}
	a = &stack{t: t, dir: dir, data: filepath.Join(dir, "data"), sock: "unix:" + filepath.Join(dir, "a.sock"),
		keyFile: filepath.Join(dir, "app.key"), witness: aAddrs}
	if code, _, stderr := cli(t, "keygen", "--out", a.keyFile); code != 0 {
		t.Fatal(stderr)
	}
	a.key = loadKey(t, a.keyFile)
	a.start()
	b = &stack{t: t, dir: dir, data: a.data, sock: "unix:" + filepath.Join(dir, "b.sock"), keyFile: a.keyFile, key: a.key, witness: bAddrs,
		runArgs: []string{"--join", a.addr, "--join-identity", a.identity, "--join-key", a.keyFile}}
	b.start()
	return a, b, ws, pa, pb
}

func readsOnly(r *wproto.Request) bool { return r.Op == wproto.OpRead }

// warmAliceOnBoth makes alice with keys k1 and k2 on A and has B sign
// with k1 (B holds alice's bucket and a lease).
func warmAliceOnBoth(t *testing.T, onA, onB *secretd.Client) (k1, k2 *secretd.P256Key, rc *secretd.Receipt) {
	t.Helper()
	k1, k2, rc = aliceWithTwoKeys(t, onA)
	if _, err := onB.Sign(ctx(t), "alice", signParams("warm"), k1); err != nil {
		t.Fatalf("setup: B with k1 before the revocation: %v", err)
	}
	return k1, k2, rc
}

// cutAfterARead waits until the next read B's runner relays to witness 1
// has gone through, then drops every witness message of B's: B keeps a
// lease of nearly its full length.
func cutAfterARead(t *testing.T, pb []*wproxy) time.Time {
	t.Helper()
	n := len(pb[0].requests())
	deadline := time.Now().Add(5 * time.Second)
	for len(pb[0].requests()) == n {
		if time.Now().After(deadline) {
			t.Fatal("B read no witness in 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(30 * time.Millisecond)
	for _, p := range pb {
		p.setMode(dropAll)
	}
	return time.Now()
}

// refusesRevokedKey asserts B never signs with k1 (tried for 5 s): the
// user has been shown a receipt without it.
func refusesRevokedKey(t *testing.T, onB *secretd.Client, k1 *secretd.P256Key) {
	t.Helper()
	start := time.Now()
	for n := 0; time.Since(start) < 5*time.Second; n++ {
		if _, err := onB.Sign(ctx(t), "alice", signParams(fmt.Sprintf("pay the thief %d", n)), k1); err != nil {
			if n > 0 {
				t.Errorf("B signed with the revoked key %d times, for %v after the user was shown a receipt of the revocation", n, time.Since(start))
			}
			t.Logf("B refuses: %v", err)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("B signed with the revoked key for 5 s after the user was shown a receipt of the revocation")
}

// revocationUnconfirmed has the user revoke k1 on A while A's network is
// set up to leave it unconfirmed.
func revocationUnconfirmed(t *testing.T, onA *secretd.Client, rc *secretd.Receipt, k1, k2 *secretd.P256Key) {
	t.Helper()
	_, err := onA.UpdatePolicy(ctx(t), "alice", rc.Version, secretd.PolicyChange{Remove: [][]byte{k1.Credential().ID}}, k2,
		[]secretd.Credential{k2.Credential()})
	if !errors.Is(err, secretd.ErrUnavailable) {
		t.Fatalf("setup: the revocation should be reported unconfirmed: %v", err)
	}
	t.Logf("the user's revocation: %v", err)
}

// pollRevoked reads alice's policy on A as the user is told to, until it
// shows the revocation (or 10 s).
func pollRevoked(t *testing.T, onA *secretd.Client, rc *secretd.Receipt, k1 *secretd.P256Key) {
	t.Helper()
	var err error
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(20 * time.Millisecond) {
		var rv *secretd.Receipt
		if rv, err = onA.Policy(ctx(t), "alice"); err == nil && rv.Version == rc.Version+1 && !rv.Holds(k1.Credential()) {
			t.Logf("the user holds A's receipt of alice at version %d without k1", rv.Version)
			return
		}
	}
	t.Fatalf("setup: the user never saw the revocation in effect (%v)", err)
}

// TestAttackCompletingAStoredWriteStillWaitsForReplicaLeases: B is warm
// with k1. The user revokes k1 on A; A's runner drops the advances, so
// the revocation is stored but unconfirmed. B's reads are cut (B keeps
// the lease it holds); then the operator has A complete the stored write
// (a wallet of its own in alice's bucket makes A read the bucket from the
// store and commit the revocation). The user reads alice's policy on A:
// a receipt without k1. B must refuse k1 from then on, and refuse an
// export with the old record put back in the store.
func TestAttackCompletingAStoredWriteStillWaitsForReplicaLeases(t *testing.T) {
	a, b, _, pa, pb := replicaPair(t, 3)
	onA, onB := a.dial(), b.dial()
	k1, k2, rc := warmAliceOnBoth(t, onA, onB)
	walletV2 := a.takeRow(a.db(), "wallet", "alice")
	for _, p := range pa {
		p.setMode(readsOnly)
	}
	revocationUnconfirmed(t, onA, rc, k1, k2)
	start := cutAfterARead(t, pb)
	for _, p := range pa {
		p.setMode(nil)
	}
	mate := bucketMates(t, "alice", 1)[0]
	if _, err := onA.CreateWallet(ctx(t), mate, secretd.CreateOptions{Words: 12}, apiKey(t)); err != nil {
		t.Fatalf("the operator's wallet in alice's bucket: %v", err)
	}
	pollRevoked(t, onA, rc, k1)
	t.Logf("%v after B was cut off", time.Since(start))
	a.putRow(a.db(), "wallet", "alice", walletV2)
	if m, err := onB.Export(ctx(t), "alice", k1); err == nil {
		t.Errorf("B exported the mnemonic (%d words) with the revoked key, %v after B was cut off", len(splitWords(m)), time.Since(start))
	} else {
		t.Logf("B refuses the export: %v", err)
	}
	refusesRevokedKey(t, onB, k1)
}

// TestAttackDroppedConfirmAnswersStillWaitForReplicaLeases: every witness
// commits the user's revocation, but A's runner drops their answers to
// A's confirmations: A tells the user the change is unconfirmed. B's
// reads were cut just before. A's next read shows it the new head; the
// user polls alice's policy on A as the error tells them to and gets a
// receipt without k1. B must refuse k1 from then on.
func TestAttackDroppedConfirmAnswersStillWaitForReplicaLeases(t *testing.T) {
	a, b, _, pa, pb := replicaPair(t, 3)
	onA, onB := a.dial(), b.dial()
	k1, k2, rc := warmAliceOnBoth(t, onA, onB)
	cut := cutAfterARead(t, pb)
	for _, p := range pa {
		p.setAnswers(func(r *wproto.Request) bool { return r.Op != wproto.OpConfirm })
	}
	revocationUnconfirmed(t, onA, rc, k1, k2)
	for _, p := range pa {
		p.setAnswers(nil)
	}
	pollRevoked(t, onA, rc, k1)
	t.Logf("%v after B was cut off", time.Since(cut))
	refusesRevokedKey(t, onB, k1)
}

// TestAttackAHeadConfirmedAtOneWitnessNeverSplitsReplicas: three
// witnesses, k = 2. All three acknowledge the user's revocation on A (a
// valid certificate), but A's runner lets the confirmation reach witness
// 1 only, so A reports it unconfirmed; A then serves the head witness 1
// shows and the user gets a receipt without k1. B's runner never lets B
// hear witness 1; witnesses 2 and 3 show the old committed head. B must
// refuse k1 all the same (A wrote the head back to a quorum before it
// served it), here 10 s later, and refuse an export of the old record.
func TestAttackAHeadConfirmedAtOneWitnessNeverSplitsReplicas(t *testing.T) {
	a, b, _, pa, pb := replicaPair(t, 3)
	onA, onB := a.dial(), b.dial()
	k1, k2, rc := warmAliceOnBoth(t, onA, onB)
	walletV2 := a.takeRow(a.db(), "wallet", "alice")
	pb[0].setMode(dropAll)
	for _, p := range pa[1:] {
		p.setMode(func(r *wproto.Request) bool { return r.Op != wproto.OpConfirm })
	}
	revocationUnconfirmed(t, onA, rc, k1, k2)
	for _, p := range pa {
		p.setMode(nil)
	}
	pollRevoked(t, onA, rc, k1)
	time.Sleep(10 * time.Second)
	if _, err := onB.Sign(ctx(t), "alice", signParams("pay the thief"), k1); err == nil {
		t.Errorf("10 s after the user was shown the revocation, B signs with the revoked key")
	} else {
		t.Logf("B refuses: %v", err)
	}
	a.putRow(a.db(), "wallet", "alice", walletV2)
	if m, err := onB.Export(ctx(t), "alice", k1); err == nil {
		t.Errorf("B exports the mnemonic (%d words) with the revoked key", len(splitWords(m)))
	} else {
		t.Logf("B refuses the export: %v", err)
	}
}

// witnessCount counts, in a witness's database (its operator can read
// it), the buckets whose heads meet where.
func witnessCount(t *testing.T, data, where string) int {
	t.Helper()
	db, err := sqlOpen(filepath.Join(data, "witness.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM heads WHERE ` + where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Conditions for witnessCount: a current head that is another head of the
// committed version (a branch no quorum took), or past the committed one.
const (
	forkedAtCommitted = `cur_version = com_version AND cur_digest != com_digest`
	aheadOfCommitted  = `cur_version > com_version`
)

// TestAttackADeadBranchAtAWitnessNeverWedgesItsBucket: three witnesses,
// k = 2, which tolerate one unreachable. The operator's own wallet in
// alice's bucket is written while only witness 1 hears advances (its
// current head moves), then the store is put back: that write is dead.
// The user's revocation is acknowledged by witnesses 2 and 3 and
// committed at all three. Witness 1 must drop the dead branch: with
// witness 3 then down, the user's next change to alice still succeeds.
func TestAttackADeadBranchAtAWitnessNeverWedgesItsBucket(t *testing.T) {
	s, ws, ps := newStackBehindProxies(t, 3)
	app := s.dial()
	k1, k2, rc := aliceWithTwoKeys(t, app)
	storeMain := snapshotStore(t, s, "store-main.db")
	ps[1].setMode(readsOnly)
	ps[2].setMode(readsOnly)
	mate := bucketMates(t, "alice", 1)[0]
	if _, err := app.CreateWallet(ctx(t), mate, secretd.CreateOptions{Words: 12}, apiKey(t)); !errors.Is(err, secretd.ErrUnavailable) {
		t.Fatalf("setup: the operator's write heard by witness 1 only: %v", err)
	}
	restartAtStore(t, s, ps, storeMain)
	user := s.dial()
	rv := acknowledgeRevocation(t, user, rc.Version, k1, k2)
	if n := witnessCount(t, ws[0].data, forkedAtCommitted); n != 0 {
		t.Errorf("witness 1 keeps %d bucket(s) on a dead branch at the committed version", n)
	}
	ps[2].setMode(dropAll)
	k3 := apiKey(t)
	if _, err := user.UpdatePolicy(ctx(t), "alice", rv.Version, secretd.PolicyChange{Add: []secretd.Credential{k3.Credential()}}, k2,
		[]secretd.Credential{k2.Credential(), k3.Credential()}, k3); err != nil {
		t.Errorf("with one witness of three unreachable, a change to alice's bucket fails: %v", err)
	}
}

// TestAttackPaddedCertificatesNeverReachAWitnessStore: a witness started
// without --cluster serves any cluster key, so anyone who reaches it can
// make a cluster and a witness key of their own. Confirms whose
// certificates carry junk beside a valid endorsement get no answer and
// store nothing; valid ones are stored, and one read of the most a read
// returns fits in one message.
func TestAttackPaddedCertificatesNeverReachAWitnessStore(t *testing.T) {
	w := startReviewWitness(t, filepath.Join(shortTempDir(t), "witness"))
	_, ck, _ := ed25519.GenerateKey(nil)
	wk, wsk, _ := ed25519.GenerateKey(nil)
	cluster := ck.Public().(ed25519.PublicKey)
	rnd := func(n int) []byte { b := make([]byte, n); _, _ = rand.Read(b); return b }
	holder := rnd(wproto.HolderLen)
	confirm := func(b uint32, junk int) []byte {
		h := wproto.Head{Version: 1, Digest: rnd(wproto.DigestLen)}
		qc := []wproto.Endorsement{{Witness: wk, Signature: wproto.Acknowledge(wsk, cluster, b, h)}}
		for range junk {
			qc = append(qc, wproto.Endorsement{Witness: rnd(65000)})
		}
		raw, err := wproto.SignRequest(ck, &wproto.Request{Op: wproto.OpConfirm, Cluster: cluster, Holder: holder, Nonce: rnd(wproto.NonceLen),
			Bucket: b, To: &h, QC: qc, Witnesses: [][]byte{wk}, Quorum: 1})
		if err != nil {
			t.Fatal(err)
		}
		reply, _ := witnessRoundTrip(w.addr, raw)
		return reply
	}
	read := func() (int, int) {
		raw, err := wproto.SignRequest(ck, &wproto.Request{Op: wproto.OpRead, Cluster: cluster, Holder: holder, Nonce: rnd(wproto.NonceLen), Limit: wproto.MaxReadHeads})
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", w.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := witness.WriteMessage(c, raw); err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		var hdr [4]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			t.Fatal(err)
		}
		size := int(binary.BigEndian.Uint32(hdr[:]))
		if size > wproto.MaxMessage {
			return size, -1
		}
		body := make([]byte, size)
		if _, err := io.ReadFull(c, body); err != nil {
			t.Fatal(err)
		}
		var sg wproto.Signed
		var r wproto.Response
		if err := wire.Unmarshal(body, &sg); err != nil || wire.Unmarshal(sg.Message, &r) != nil {
			t.Fatalf("an undecodable read answer (%d bytes)", size)
		}
		return size, len(r.Heads)
	}

	for _, junk := range []int{1, 15} {
		if reply := confirm(uint32(junk), junk); len(reply) != 0 {
			t.Errorf("a confirm with %d junk endorsement(s) got a %d-byte answer", junk, len(reply))
		}
	}
	if size, n := read(); n != 0 {
		t.Errorf("the witness stored %d head(s) from padded certificates (a %d-byte read)", n, size)
	}
	const rows = 60
	for b := range uint32(rows) {
		if reply := confirm(100+b, 0); len(reply) == 0 {
			t.Fatalf("a valid confirm of bucket %d got no answer", 100+b)
		}
	}
	size, n := read()
	t.Logf("%d valid heads stored; one read answers %d of them in %d bytes (limit %d)", rows, n, size, wproto.MaxMessage)
	if n != rows {
		t.Errorf("a read returns %d heads (answer of %d bytes), want %d", n, size, rows)
	}
}

// colluder is a colluding witness: its operator answers reads itself,
// from its own database and signed with its own key, and relays
// everything else to the witness unchanged. How it answers reads:
type colluder struct {
	ln   net.Listener
	key  ed25519.PrivateKey
	data string
	mu   sync.Mutex
	mode colluderMode
}

type colluderMode int

const (
	plainReads   colluderMode = iota // its committed heads, as a witness would
	paddedReads                      // each head with junk endorsements up to 16, one head a page
	slowEndless                      // each page after 1.8 s, no heads, "more follow"
	repeatedHead                     // each page 512 copies of one real certified head, "more follow"
)

const colluderBase = 1 << 40 // its own epochs, to page one head at a time

func startColluder(t *testing.T, w *reviewWitness) *colluder {
	t.Helper()
	c := &colluder{key: witnessKey(t, w), data: w.data}
	c.ln = startImpostor(t, w, func(r *wproto.Request) []byte {
		if r.Op == wproto.OpRead {
			return c.read(t, r)
		}
		return nil
	})
	return c
}

// witnessKey reads a witness's private key from its data directory (its
// operator can).
func witnessKey(t *testing.T, w *reviewWitness) ed25519.PrivateKey {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(w.data, witness.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(text)), "\n")
	seed, err := base64.StdEncoding.DecodeString(lines[len(lines)-1])
	if err != nil {
		t.Fatal(err)
	}
	return ed25519.NewKeyFromSeed(seed)
}

// startImpostor listens in front of witness w as its colluding operator:
// answer returns the reply it gives a request itself (signed with w's
// key), or nil to relay the request to w.
func startImpostor(t *testing.T, w *reviewWitness, answer func(r *wproto.Request) []byte) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				for {
					_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
					msg, err := witness.ReadMessage(conn)
					if err != nil {
						return
					}
					var reply []byte
					if r, err := wproto.OpenRequest(msg); err == nil {
						reply = answer(r)
					}
					if reply == nil {
						if reply, err = witnessRoundTrip(w.addr, msg); err != nil {
							return
						}
					}
					if err := witness.WriteMessage(conn, reply); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln
}

func (c *colluder) setMode(m colluderMode) { c.mu.Lock(); c.mode = m; c.mu.Unlock() }

func (c *colluder) read(t *testing.T, r *wproto.Request) []byte {
	c.mu.Lock()
	mode := c.mode
	c.mu.Unlock()
	if mode == slowEndless {
		time.Sleep(1800 * time.Millisecond)
	}
	db, err := sqlOpen(filepath.Join(c.data, "witness.db"))
	if err != nil {
		return nil
	}
	defer db.Close()
	rows, err := db.Query(`SELECT bucket, com_version, com_digest, com_qc FROM heads WHERE cluster = ? AND com_version > 0 ORDER BY changed`, r.Cluster)
	if err != nil {
		return nil
	}
	var all []wproto.BucketHead
	for rows.Next() {
		var b, v int64
		var d, qc []byte
		if rows.Scan(&b, &v, &d, &qc) != nil {
			rows.Close()
			return nil
		}
		h := wproto.BucketHead{Bucket: uint32(b), Head: wproto.Head{Version: uint64(v), Digest: d}}
		if wire.Unmarshal(qc, &h.QC) != nil {
			rows.Close()
			return nil
		}
		all = append(all, h)
	}
	rows.Close()
	resp := &wproto.Response{Op: r.Op, Witness: c.key.Public().(ed25519.PublicKey), Cluster: r.Cluster, Nonce: r.Nonce, Status: wproto.StatusOK, LeaseMillis: r.LeaseMillis}
	idx := 0
	if r.Since >= colluderBase {
		idx = int(r.Since - colluderBase)
	}
	switch {
	case mode == slowEndless:
		resp.Epoch, resp.More = r.Since+1, true
	case mode == repeatedHead && len(all) > 0:
		for range wproto.MaxReadHeads {
			resp.Heads = append(resp.Heads, all[0])
		}
		resp.Epoch, resp.More = r.Since+1, true
	case mode == plainReads:
		resp.Heads, resp.Epoch = all, colluderBase+uint64(len(all))
		if len(resp.Heads) > wproto.MaxReadHeads {
			resp.Heads, resp.More, resp.Epoch = resp.Heads[:wproto.MaxReadHeads], true, colluderBase+wproto.MaxReadHeads
		}
		if r.Since >= colluderBase {
			resp.Heads, resp.More, resp.Epoch = nil, false, max(r.Since, colluderBase+uint64(len(all)))
		}
	case idx < len(all):
		h := all[idx]
		for len(h.QC) < wproto.MaxWitnesses {
			h.QC = append(h.QC, wproto.Endorsement{Witness: make([]byte, 62000)})
		}
		resp.Heads, resp.Epoch, resp.More = []wproto.BucketHead{h}, colluderBase+uint64(idx)+1, idx+1 < len(all)
	default:
		resp.Epoch = max(r.Since, colluderBase)
	}
	out, err := wproto.SignResponse(c.key, resp)
	if err != nil {
		t.Error(err)
		return nil
	}
	return out
}

// TestAttackAColludingWitnessCannotPadCertificatesIntoTheEnclave: four
// witnesses, k = 3: one may collude. The colluding witness answers the
// enclave's reads with the real certified heads padded with junk
// endorsements, one head a page; the runner holds back the honest
// witnesses' reads for the first seconds after a restart, so the padded
// copies come first. The enclave must refuse them (a certificate is
// exactly its endorsements): its memory may not grow by more than a few
// MiB over the same run with plain answers.
func TestAttackAColludingWitnessCannotPadCertificatesIntoTheEnclave(t *testing.T) {
	s, ws, ps := newStackBehindProxies(t, 4)
	app := s.dial()
	k := apiKey(t)
	buckets := map[uint32]bool{}
	for i := 0; len(buckets) < 80; i++ {
		oid := fmt.Sprintf("w-%d", i)
		if buckets[reviewBucketOf(oid)] {
			continue
		}
		buckets[reviewBucketOf(oid)] = true
		if _, err := app.CreateWallet(ctx(t), oid, secretd.CreateOptions{Words: 12}, k); err != nil {
			t.Fatal(err)
		}
	}
	col := startColluder(t, ws[0])
	ps[0].setTarget(col.ln.Addr().String())

	measure := func(pad bool) int {
		s.stop()
		col.setMode(map[bool]colluderMode{false: plainReads, true: paddedReads}[pad])
		for _, p := range ps[1:] {
			p.setMode(dropAll)
		}
		s.start()
		time.Sleep(7 * time.Second)
		for _, p := range ps[1:] {
			p.setMode(nil)
		}
		c := s.dial()
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, err := c.Sign(ctx(t), "w-0", signParams("x"), k)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the enclave serves no wallet: %v", err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		time.Sleep(3 * time.Second)
		return vmRSS(t, s.enc.cmd.Process.Pid)
	}
	plain := measure(false)
	padded := measure(true)
	t.Logf("enclave resident memory with %d buckets: %d KiB with the colluding witness's plain answers, %d KiB with padded ones", len(buckets), plain, padded)
	if padded-plain > 16<<10 {
		t.Errorf("one colluding witness (within 2k-n-1) grows the enclave by %d MiB for %d buckets (~%.1f MiB each)",
			(padded-plain)>>10, len(buckets), float64(padded-plain)/1024/float64(len(buckets)))
	}
}

// TestAttackOldOrMisroutedWitnessAnswersGiveNoLease: three witnesses; the
// revocation is acknowledged by witnesses 1 and 2 (3 cut off). B's runner
// then (a) answers every read of B's with the last answer each witness
// gave before the revocation, or (b) sends all of B's witness traffic to
// witness 3, which never heard of the revocation (validly signed answers,
// by the wrong witness for two slots). B must refuse k1, and refuse an
// export of the old record.
func TestAttackOldOrMisroutedWitnessAnswersGiveNoLease(t *testing.T) {
	for _, replayed := range []bool{true, false} {
		name := map[bool]string{true: "replayed answers", false: "every slot routed to witness 3"}[replayed]
		t.Run(name, func(t *testing.T) {
			a, b, ws, pa, pb := replicaPair(t, 3)
			onA, onB := a.dial(), b.dial()
			k1, k2, rc := warmAliceOnBoth(t, onA, onB)
			walletV2 := a.takeRow(a.db(), "wallet", "alice")
			if replayed {
				time.Sleep(1500 * time.Millisecond) // B has read every witness since its warm sign
				for _, p := range pb {
					p.freeze()
				}
			}
			pa[2].setMode(dropAll)
			start := time.Now()
			acknowledgeRevocation(t, onA, rc.Version, k1, k2)
			t.Logf("revocation acknowledged after %v", time.Since(start))
			if !replayed {
				for _, p := range pb {
					p.setTarget(ws[2].addr)
				}
			}
			a.putRow(a.db(), "wallet", "alice", walletV2)
			if _, err := onB.Sign(ctx(t), "alice", signParams("pay the thief"), k1); err == nil {
				t.Errorf("B signs with the revoked key after the acknowledged revocation")
			} else {
				t.Logf("B refuses the sign: %v", err)
			}
			if _, err := onB.Export(ctx(t), "alice", k1); err == nil {
				t.Errorf("B exports with the revoked key")
			} else {
				t.Logf("B refuses the export: %v", err)
			}
		})
	}
}

// TestAttackRestartedWitnessesRememberReplicaLeases: B holds a lease;
// every witness restarts (their in-memory leases are gone); the user
// revokes k1 on A at once. A must still wait for B's lease (the horizon
// each witness stored), so B refuses k1 once the revocation is
// acknowledged.
func TestAttackRestartedWitnessesRememberReplicaLeases(t *testing.T) {
	a, b, ws, pa, pb := replicaPair(t, 3)
	onA, onB := a.dial(), b.dial()
	k1, k2, rc := warmAliceOnBoth(t, onA, onB)
	cutAfterARead(t, pb)
	for i := range ws {
		ws[i].stop()
		ws[i] = startReviewWitness(t, ws[i].data)
		pa[i].setTarget(ws[i].addr)
		pb[i].setTarget(ws[i].addr)
	}
	start := time.Now()
	acknowledgeRevocation(t, onA, rc.Version, k1, k2)
	t.Logf("revocation acknowledged after %v", time.Since(start))
	if _, err := onB.Sign(ctx(t), "alice", signParams("pay the thief"), k1); err == nil {
		t.Errorf("B signs with the revoked key right after the acknowledged revocation (witnesses restarted)")
	} else {
		t.Logf("B refuses: %v", err)
	}
}

// bucketRow is the store's id of oid's index bucket.
func bucketRow(oid string) string { return fmt.Sprintf("%03x", reviewBucketOf(oid)) }

// waitForNewRead waits until proxy p has seen one more read request than
// it had when called (and a little more, for its answer to be back).
func waitForNewRead(t *testing.T, p *wproxy) {
	t.Helper()
	n := len(requestsOf(p, wproto.OpRead))
	deadline := time.Now().Add(5 * time.Second)
	for len(requestsOf(p, wproto.OpRead)) == n {
		if time.Now().After(deadline) {
			t.Fatal("no read relayed in 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(30 * time.Millisecond)
}

// requestsOf returns the signed requests of op a proxy saw (relayed or
// dropped: the operator sees them all), opened, with their raw bytes.
func requestsOf(p *wproxy, op string) (out []struct {
	r   *wproto.Request
	raw []byte
}) {
	for _, raw := range p.requests() {
		if r, err := wproto.OpenRequest(raw); err == nil && r.Op == op {
			out = append(out, struct {
				r   *wproto.Request
				raw []byte
			}{r, raw})
		}
	}
	return out
}

// atVersion selects the heads of version v (first attempts, ballot 0).
func atVersion(v uint64) func(h wproto.Head) bool {
	return func(h wproto.Head) bool { return h.Version == v && h.Ballot == 0 }
}

// retriedAt selects the heads of version v at a higher ballot (a write
// that tried again past heads of its version no quorum took).
func retriedAt(v uint64) func(h wproto.Head) bool {
	return func(h wproto.Head) bool { return h.Version == v && h.Ballot > 0 }
}

// confirmsOf returns the confirms of bucket b a proxy saw whose head
// meets which.
func confirmsOf(p *wproxy, b uint32, which func(h wproto.Head) bool) (out [][]byte) {
	for _, c := range requestsOf(p, wproto.OpConfirm) {
		if c.r.Bucket == b && which(*c.r.To) {
			out = append(out, c.raw)
		}
	}
	return out
}

// TestAttackAReplicaNeverServesAHeadOlderThanOneItConfirmed: three
// witnesses, k = 2, none colluding. A witness settles a committed head
// when every lease it granted has run out but the confirming enclave's,
// since that enclave serves the head from then on; so an enclave that
// sent a confirm, even one that failed, must never serve an older head.
//
//  1. The user revokes k1 on A; all three witnesses acknowledge, but only
//     witness 1 hears A's confirmation: A reports it unconfirmed.
//  2. B sees the head at witness 1 and writes it back; its runner records
//     B's confirmations to witnesses 2 and 3 and drops them.
//  3. B stops hearing witness 1 and the store is put back before the
//     revocation: B must not serve the old head.
//  4. A's leases run out; the store is put at the revocation again.
//  5. Right after one of B's reads, the operator delivers B's recorded
//     confirmations (or, in the control, not).
//  6. The user gets A's receipt without k1; B must refuse k1, and refuse
//     an export of the old record.
//
// Found by an independent review: B served the old head at step 3 and
// signed with k1 for 2.6 s after the receipt at step 6.
func TestAttackAReplicaNeverServesAHeadOlderThanOneItConfirmed(t *testing.T) {
	for _, late := range []bool{true, false} {
		name := map[bool]string{true: "B's confirmations delivered late", false: "B's confirmations never delivered"}[late]
		t.Run(name, func(t *testing.T) {
			a, b, ws, pa, pb := replicaPair(t, 3)
			onA, onB := a.dial(), b.dial()
			k1, k2, rc := warmAliceOnBoth(t, onA, onB)
			bucket, bid := reviewBucketOf("alice"), bucketRow("alice")
			indexOld, walletOld := a.takeRow(a.db(), "index", bid), a.takeRow(a.db(), "wallet", "alice")

			noConfirm := func(r *wproto.Request) bool { return r.Op != wproto.OpConfirm }
			pa[1].setMode(noConfirm)
			pa[2].setMode(noConfirm)
			revocationUnconfirmed(t, onA, rc, k1, k2)
			indexNew, walletNew := a.takeRow(a.db(), "index", bid), a.takeRow(a.db(), "wallet", "alice")
			newVersion := uint64(indexNew.version)

			pb[1].setMode(noConfirm)
			pb[2].setMode(noConfirm)
			waitForNewRead(t, pb[0])
			waitForNewRead(t, pb[0])
			if _, err := onB.Sign(ctx(t), "alice", signParams("write-back"), k1); err == nil {
				t.Fatal("B signed while the newest head it saw was unsettled")
			}
			var recorded [2][][]byte
			for i := 1; i <= 2; i++ {
				if recorded[i-1] = confirmsOf(pb[i], bucket, atVersion(newVersion)); len(recorded[i-1]) == 0 {
					t.Fatalf("setup: B sent no confirmation of version %d to witness %d", newVersion, i+1)
				}
			}

			pb[0].setMode(dropAll)
			db := a.db()
			a.putRow(db, "index", bid, indexOld)
			a.putRow(db, "wallet", "alice", walletOld)
			for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(100 * time.Millisecond) {
				if _, err := onB.Sign(ctx(t), "alice", signParams("old head"), k1); err == nil {
					t.Errorf("B serves the head before the one it confirmed, %v after its write-back", time.Since(start))
					break
				}
			}

			for _, p := range pa {
				p.setMode(dropAll)
			}
			time.Sleep(3500 * time.Millisecond)
			a.putRow(db, "index", bid, indexNew)
			a.putRow(db, "wallet", "alice", walletNew)
			waitForNewRead(t, pb[1])
			for _, p := range pb {
				p.setMode(dropAll)
			}
			for i := 1; i <= 2 && late; i++ {
				if r := replayTo(t, ws[i].addr, recorded[i-1][0]); r.Status != wproto.StatusOK {
					t.Fatalf("setup: witness %d refused B's late confirmation: %s", i+1, r.Status)
				}
			}
			for _, p := range pa {
				p.setMode(nil)
			}
			pollRevoked(t, onA, rc, k1)
			a.putRow(db, "wallet", "alice", walletOld)
			if m, err := onB.Export(ctx(t), "alice", k1); err == nil {
				t.Errorf("B exported the mnemonic (%d words) with the revoked key after the receipt", len(splitWords(m)))
			}
			a.putRow(db, "wallet", "alice", walletNew)
			refusesRevokedKey(t, onB, k1)
		})
	}
}

// TestAttackAStoreReadHeldBackNeverOutlivesARevocation: an export reads
// the wallet from the store. The runner holds back its answer to that
// read for 8 s (a request may take 30 s) while the user revokes k1, and
// then answers with the row as it was when asked. The enclave checks the
// index again once the read is done: the export with k1 is refused, on a
// replica (B, the revocation made on A) and on a lone enclave.
//
// Found by an independent review: B exported the mnemonic 5 s after the
// user was shown the revocation's receipt.
func TestAttackAStoreReadHeldBackNeverOutlivesARevocation(t *testing.T) {
	for _, replica := range []bool{true, false} {
		name := map[bool]string{true: "on replica B, revoked on A", false: "on one enclave"}[replica]
		t.Run(name, func(t *testing.T) {
			var onA, onB *secretd.Client
			var tap *hostTap
			if replica {
				a, b, _, _, _ := replicaPair(t, 3)
				tap = tapped(t, b, "b-tap")
				onA, onB = a.dial(), b.dial()
			} else {
				s, _ := newStackWithWitnesses(t, 3)
				tap = tapped(t, s, "tap")
				onA, onB = s.dial(), s.dial()
			}
			r := exportDuringRevocation(t, tap, onA, onB, "alice's row", func(m *hostlink.Message) bool {
				return m.Op == hostlink.OpGet && m.Object != nil && m.Object.Kind == "wallet" && m.Object.ID == "alice"
			})
			refusedAfterReceipt(t, r.err, r.afterReceipt, "exported the mnemonic")
			k1 := r.k1
			refusesRevokedKey(t, onB, k1)
		})
	}
}

// signsFor uses alice's key k every interval for d (5 s each) and
// returns how many signatures succeeded and failed, the slowest try and
// the enclave's CPU time meanwhile.
func signsFor(t *testing.T, s *stack, app *secretd.Client, k *secretd.P256Key, d, interval time.Duration) (ok, failed int, worst, cpu time.Duration) {
	t.Helper()
	pid := s.enc.cmd.Process.Pid
	cpu0 := procCPU(t, pid)
	for start := time.Now(); time.Since(start) < d; time.Sleep(interval) {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		t0 := time.Now()
		_, err := app.Sign(c, "alice", signParams(fmt.Sprintf("use %d", ok+failed)), k)
		cancel()
		worst = max(worst, time.Since(t0))
		if err != nil {
			failed++
			t.Logf("refused: %v", err)
		} else {
			ok++
		}
	}
	return ok, failed, worst, procCPU(t, pid) - cpu0
}

// TestAttackOneColludingWitnessCannotStallOrBurnTheEnclave: four
// witnesses, k = 3, so one may collude. It answers every read (a) after
// 1.8 s with no heads and "more follow", forever, or (b) at once with 512
// copies of a real certified head and "more follow". The user's own key
// must keep signing, and the enclave's CPU stay near what honest
// witnesses cost.
//
// Found by an independent review: (a) every lease was taken only when
// every witness had answered in full (16 pages of up to 2 s), so none
// ever held and nothing was signed; (b) every copy's certificate was
// checked on every read, 9 s of CPU in 10 s.
func TestAttackOneColludingWitnessCannotStallOrBurnTheEnclave(t *testing.T) {
	s, ws, ps := newStackBehindProxies(t, 4)
	app := s.dial()
	k := apiKey(t)
	if _, err := app.CreateWallet(ctx(t), "alice", secretd.CreateOptions{Words: 12}, k); err != nil {
		t.Fatal(err)
	}
	col := startColluder(t, ws[0])
	ps[0].setTarget(col.ln.Addr().String())
	_, _, _, honest := signsFor(t, s, app, k, 5*time.Second, 250*time.Millisecond)
	t.Logf("plain answers, 5 s: enclave CPU %v", honest)
	for _, tc := range []struct {
		name string
		mode colluderMode
	}{
		{"slow endless pages", slowEndless},
		{"pages of one head repeated", repeatedHead},
	} {
		t.Run(tc.name, func(t *testing.T) {
			col.setMode(tc.mode)
			time.Sleep(4 * time.Second) // the lease taken before runs out
			ok, failed, worst, cpu := signsFor(t, s, app, k, 5*time.Second, 250*time.Millisecond)
			t.Logf("%d signatures, %d refused, slowest %v, enclave CPU %v", ok, failed, worst, cpu)
			if failed > 0 {
				t.Errorf("one colluding witness (within 2k-n-1) made %d of %d signatures fail", failed, ok+failed)
			}
			if cpu > honest+time.Second {
				t.Errorf("one colluding witness costs the enclave %v of CPU in 5 s (plain answers: %v)", cpu, honest)
			}
			col.setMode(plainReads)
		})
	}
}

// deadWrites has the operator write a wallet of its own into oid's
// bucket once per witness listed, each time letting only that witness
// hear the advance, and puts the store's bucket back after each (or
// deletes it, when the bucket was empty): each of those witnesses then
// holds a different head one version past the committed one, which no
// quorum took.
func deadWrites(t *testing.T, s *stack, ws []*reviewWitness, ps []*wproxy, oid string, at ...int) {
	t.Helper()
	bid := bucketRow(oid)
	var indexOld *row
	var n int
	if s.db().QueryRow(`SELECT count(*) FROM sealed_objects WHERE kind = 'index' AND id = ?`, bid).Scan(&n); n > 0 {
		r := s.takeRow(s.db(), "index", bid)
		indexOld = &r
	}
	opKey := apiKey(t)
	for n, i := range at {
		for j, p := range ps {
			p.setMode(map[bool]func(*wproto.Request) bool{true: nil, false: readsOnly}[j == i])
		}
		mate := bucketMates(t, oid, len(at))[n]
		if _, err := s.dial().CreateWallet(ctx(t), mate, secretd.CreateOptions{Words: 12}, opKey); !errors.Is(err, secretd.ErrUnavailable) {
			t.Fatalf("setup: the operator's write heard by witness %d only: %v", i+1, err)
		}
		if indexOld != nil {
			s.putRow(s.db(), "index", bid, *indexOld)
		} else {
			s.deleteRow(s.db(), "index", bid)
		}
	}
	for _, p := range ps {
		p.setMode(nil)
	}
	for _, i := range at {
		if n := witnessCount(t, ws[i].data, aheadOfCommitted); n != 1 {
			t.Fatalf("setup: witness %d holds %d bucket(s) with a current head past the committed one, want 1", i+1, n)
		}
	}
}

// TestAttackDeadWritesNeverFreezeABucket: three witnesses, k = 2. The
// operator leaves writes no quorum took at the witnesses (deadWrites):
// (a) a different one at every witness, so no head of the next version
// can ever be certified; (b) one at witness 1, and then witness 3 is
// unreachable (n-k = 1, which the cluster tolerates). The user's
// revocation of k1 must succeed all the same (the write steps over the
// dead heads to a newer version), and k1 is refused after it.
//
// Found by an independent review: (a) froze the bucket for good (no
// wallet in it could change, and after a failed change none was served),
// (b) until witness 3 came back.
func TestAttackDeadWritesNeverFreezeABucket(t *testing.T) {
	tests := []struct {
		name string
		dead []int // the witnesses that hear one dead write each
		down int   // a witness unreachable during the revocation, or -1
	}{
		{"a different dead write at every witness", []int{0, 1, 2}, -1},
		{"a dead write at witness 1, witness 3 down", []int{0}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, ws, ps := newStackBehindProxies(t, 3)
			app := s.dial()
			k1, k2, rc := aliceWithTwoKeys(t, app)
			deadWrites(t, s, ws, ps, "alice", tc.dead...)
			if tc.down >= 0 {
				ps[tc.down].setMode(dropAll)
			}
			rv, err := app.UpdatePolicy(ctx(t), "alice", rc.Version, secretd.PolicyChange{Remove: [][]byte{k1.Credential().ID}}, k2,
				[]secretd.Credential{k2.Credential()})
			if err != nil {
				t.Fatalf("the user cannot revoke k1: %v", err)
			}
			t.Logf("revoked: alice at version %d", rv.Version)
			if _, err := app.Sign(ctx(t), "alice", signParams("after"), k1); err == nil {
				t.Error("k1 signs after the revocation")
			}
			if _, err := app.Sign(ctx(t), "alice", signParams("after"), k2); err != nil {
				t.Errorf("the user's own key after the revocation: %v", err)
			}
			// And the bucket keeps changing: a new wallet in it.
			if _, err := app.CreateWallet(ctx(t), bucketMates(t, "alice", 4)[3], secretd.CreateOptions{Words: 12}, apiKey(t)); err != nil {
				t.Errorf("a new wallet in alice's bucket after the revocation: %v", err)
			}
		})
	}
}

// The same in a bucket no wallet was ever in (its committed head is the
// empty one): after a dead write at every witness, the user's wallet is
// created there and serves.
func TestAttackDeadWritesNeverFreezeAnEmptyBucket(t *testing.T) {
	s, ws, ps := newStackBehindProxies(t, 3)
	oid := "bob"
	deadWrites(t, s, ws, ps, oid, 0, 1, 2)
	k := apiKey(t)
	if _, err := s.dial().CreateWallet(ctx(t), oid, secretd.CreateOptions{Words: 12}, k); err != nil {
		t.Fatalf("the user's wallet in a bucket holding only dead writes: %v", err)
	}
	if _, err := s.dial().Sign(ctx(t), oid, signParams("mine"), k); err != nil {
		t.Fatalf("the user's new wallet: %v", err)
	}
}
