package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/internal/witness"
	"github.com/niomon/niomon/internal/witness/wproto"
	"github.com/niomon/niomon/secretd"
)

// The freshness witnesses, attacked as the operator that runs
// the runner (which relays, drops and can replay every witness message),
// its store, and restarts the enclave at will.
//
// The witnesses are real `secretd witness` processes; between them and
// the runner sits wproxy, which plays the runner's network: it forwards
// or drops each witness message as the test decides, and records every
// signed request it saw (the operator sees all of them).

// wproxy relays one witness's messages (4-byte length, message).
type wproxy struct {
	t  *testing.T
	ln net.Listener

	mu      sync.Mutex
	target  string
	forward func(r *wproto.Request) bool // nil: forward everything
	answer  func(r *wproto.Request) bool // nil: pass every answer back
	hold    func(r *wproto.Request) bool // requests held in transit until release
	gate    chan struct{}                // closed by release
	held    int                          // requests held so far
	replay  bool                         // answer reads with the last read answer kept
	last    []byte                       // the last answer to a read
	seen    [][]byte                     // every signed request, in order
	dropped int
}

func startWProxy(t *testing.T, target string) *wproxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &wproxy{t: t, ln: ln, target: target, gate: make(chan struct{})}
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.serve(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.release(); wg.Wait() })
	return p
}

// holdWhile holds every request f selects in transit (the runner's
// network delaying it) until release.
func (p *wproxy) holdWhile(f func(r *wproto.Request) bool) {
	p.mu.Lock()
	p.hold, p.gate = f, make(chan struct{})
	p.mu.Unlock()
}

// release lets the held requests through.
func (p *wproxy) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold = nil
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
}

// holding is how many requests were held so far.
func (p *wproxy) holding() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held
}

func (p *wproxy) addr() string { return p.ln.Addr().String() }

func (p *wproxy) setTarget(a string) {
	p.mu.Lock()
	p.target = a
	p.mu.Unlock()
}

// setMode decides which requests reach the witness from now on; nil
// forwards all.
func (p *wproxy) setMode(f func(r *wproto.Request) bool) {
	p.mu.Lock()
	p.forward = f
	p.mu.Unlock()
}

// setAnswers decides which answers the runner gets back: the request
// reaches the witness either way (nil passes all).
func (p *wproxy) setAnswers(f func(r *wproto.Request) bool) {
	p.mu.Lock()
	p.answer = f
	p.mu.Unlock()
}

// freeze answers every read from now on with the last answer to a read
// the witness gave (the runner replaying a validly signed old answer).
func (p *wproxy) freeze() {
	p.mu.Lock()
	p.replay = true
	p.mu.Unlock()
}

func dropAll(*wproto.Request) bool { return false }

func (p *wproxy) serve(c net.Conn) {
	defer c.Close()
	for i := 0; i < 100000; i++ {
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		msg, err := witness.ReadMessage(c)
		if err != nil {
			return
		}
		p.mu.Lock()
		target, forward, answer, replay, last, gate := p.target, p.forward, p.answer, p.replay, p.last, p.gate
		var req *wproto.Request
		if string(msg) != witness.InfoRequest {
			req, _ = wproto.OpenRequest(msg)
			p.seen = append(p.seen, append([]byte(nil), msg...))
		}
		ok := forward == nil || req == nil || forward(req)
		if !ok {
			p.dropped++
		}
		hold := ok && p.hold != nil && req != nil && p.hold(req)
		if hold {
			p.held++
		}
		p.mu.Unlock()
		if !ok {
			return // the runner's relay sees a broken connection: no answer
		}
		if hold {
			<-gate
		}
		read := req != nil && req.Op == wproto.OpRead
		reply := last
		if !replay || !read || last == nil {
			if reply, err = witnessRoundTrip(target, msg); err != nil {
				return
			}
		}
		if read && !replay {
			p.mu.Lock()
			p.last = reply
			p.mu.Unlock()
		}
		if answer != nil && req != nil && !answer(req) {
			return
		}
		if err := witness.WriteMessage(c, reply); err != nil {
			return
		}
	}
}

// requests returns the signed requests seen so far, opened.
func (p *wproxy) requests() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]byte(nil), p.seen...)
}

// witnessRoundTrip sends one message to a witness and returns its answer.
func witnessRoundTrip(addr string, msg []byte) ([]byte, error) {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := witness.WriteMessage(c, msg); err != nil {
		return nil, err
	}
	return witness.ReadMessage(c)
}

// replayTo sends a signed request the operator recorded straight to a
// witness, and returns its (decoded, unverified) answer.
func replayTo(t *testing.T, addr string, raw []byte) *wproto.Response {
	t.Helper()
	b, err := witnessRoundTrip(addr, raw)
	if err != nil {
		t.Fatalf("replaying to %s: %v", addr, err)
	}
	var s wproto.Signed
	var r wproto.Response
	if err := wire.Unmarshal(b, &s); err != nil || wire.Unmarshal(s.Message, &r) != nil {
		t.Fatalf("replaying to %s: undecodable answer (%d bytes)", addr, len(b))
	}
	return &r
}

// reviewWitness is one witness process with its data directory.
type reviewWitness struct {
	p    *proc
	data string
	addr string
}

func startReviewWitness(t *testing.T, data string) *reviewWitness {
	t.Helper()
	w := startProc(t, "witness", "--listen", "127.0.0.1:0", "--data", data)
	w.waitFor("witness_key")
	return &reviewWitness{p: w, data: data, addr: w.waitFor("listen")}
}

// newStackBehindProxies starts n witness processes, a proxy in front of
// each, and a stack whose runner reaches the witnesses through the
// proxies (its dev genesis fixes the witnesses' keys; a majority
// acknowledges each change).
func newStackBehindProxies(t *testing.T, n int) (*stack, []*reviewWitness, []*wproxy) {
	t.Helper()
	dir := shortTempDir(t)
	var ws []*reviewWitness
	var ps []*wproxy
	var addrs []string
	for i := range n {
		w := startReviewWitness(t, filepath.Join(dir, fmt.Sprintf("witness-%d", i+1)))
		p := startWProxy(t, w.addr)
		ws, ps, addrs = append(ws, w), append(ps, p), append(addrs, p.addr())
	}
	s := &stack{t: t, dir: dir, data: filepath.Join(dir, "data"), sock: "unix:" + filepath.Join(dir, "e.sock"),
		keyFile: filepath.Join(dir, "app.key"), witness: addrs}
	if code, _, stderr := cli(t, "keygen", "--out", s.keyFile); code != 0 {
		t.Fatal(stderr)
	}
	s.key = loadKey(t, s.keyFile)
	s.start()
	return s, ws, ps
}

// reviewBucketOf is the enclave's bucket of an oid (internal/enclave
// index.go): anyone can compute it.
func reviewBucketOf(oid string) uint32 {
	h := sha256.Sum256([]byte("niomon/secretd/v2/index-bucket\x00" + oid))
	return binary.BigEndian.Uint32(h[:4]) % 4096
}

// bucketMates returns n oids of the operator's in the same index bucket
// as oid.
func bucketMates(t *testing.T, oid string, n int) []string {
	t.Helper()
	b := reviewBucketOf(oid)
	var out []string
	for i := 0; i < 10_000_000 && len(out) < n; i++ {
		o := fmt.Sprintf("op-%d", i)
		if reviewBucketOf(o) == b {
			out = append(out, o)
		}
	}
	if len(out) < n {
		t.Fatal("no bucket mates found")
	}
	return out
}

// snapshotStore copies the runner's store as it is now (the operator's
// backup).
func snapshotStore(t *testing.T, s *stack, name string) string {
	t.Helper()
	path := filepath.Join(s.dir, name)
	if _, err := s.db().Exec(`VACUUM INTO ?`, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// aliceWithTwoKeys makes alice's wallet with k1 and adds k2 (version 2).
func aliceWithTwoKeys(t *testing.T, app *secretd.Client) (k1, k2 *secretd.P256Key, rc *secretd.Receipt) {
	t.Helper()
	k1, k2 = apiKey(t), apiKey(t)
	rc, err := app.CreateWallet(ctx(t), "alice", secretd.CreateOptions{Words: 12}, k1)
	if err != nil {
		t.Fatal(err)
	}
	rc, err = app.UpdatePolicy(ctx(t), "alice", rc.Version, secretd.PolicyChange{Add: []secretd.Credential{k2.Credential()}}, k1,
		[]secretd.Credential{k1.Credential(), k2.Credential()}, k2)
	if err != nil {
		t.Fatal(err)
	}
	return k1, k2, rc
}

func signParams(msg string) secretd.SignParams {
	d := sha256.Sum256([]byte(msg))
	return secretd.SignParams{Scheme: secretd.SchemeSecp256k1, Path: "m/44'/60'/0'/0/0", Digest: d[:]}
}

// acknowledgeRevocation has the user remove k1 from alice at version
// (stamped by k2) and checks that k1 is refused right after.
func acknowledgeRevocation(t *testing.T, user *secretd.Client, version uint64, k1, k2 *secretd.P256Key) *secretd.Receipt {
	t.Helper()
	rv, err := user.UpdatePolicy(ctx(t), "alice", version, secretd.PolicyChange{Remove: [][]byte{k1.Credential().ID}}, k2,
		[]secretd.Credential{k2.Credential()})
	if err != nil {
		t.Fatalf("the user's revocation: %v", err)
	}
	t.Logf("revocation acknowledged: alice at version %d", rv.Version)
	if _, err := user.Sign(ctx(t), "alice", signParams("after"), k1); err == nil {
		t.Fatal("setup: k1 signed right after its revocation")
	}
	return rv
}

// restartAtStore stops the stack, puts its store at the copy from, lets
// every witness message through except to the witnesses numbered in
// cutOff (from 0), and starts it again.
func restartAtStore(t *testing.T, s *stack, ps []*wproxy, from string, cutOff ...int) {
	t.Helper()
	s.stop()
	restoreStore(t, s, from)
	for _, p := range ps {
		p.setMode(nil)
	}
	for _, i := range cutOff {
		ps[i].setMode(dropAll)
	}
	s.start()
}

// revokedKeyRefused fails the test if k1 signs for or exports alice;
// attack says what the operator did.
func revokedKeyRefused(t *testing.T, s *stack, k1 *secretd.P256Key, attack string) {
	t.Helper()
	thief := s.dial()
	_, signErr := thief.Sign(ctx(t), "alice", signParams("pay the thief"), k1)
	m, exportErr := thief.Export(ctx(t), "alice", k1)
	if signErr == nil || exportErr == nil {
		t.Fatalf("%s: the revoked key signs (err %v) or exports (err %v, %d-word phrase)", attack, signErr, exportErr, len(splitWords(m)))
	}
	t.Logf("refused: sign %v; export %v", signErr, exportErr)
}

// TestAttackReplayedWitnessRequestsNeverRevivesARevokedKey: no witness
// colludes. The operator uses its own wallets in alice's index bucket to
// make the enclave write a branch of the bucket's history that only
// witness 3 holds, recording every request the enclave signs (the runner
// relays them all). It lets the user's revocation be acknowledged by
// witnesses 1 and 2, then replays every recorded request to those two and
// puts the store at the branch. The revoked key must stay refused.
func TestAttackReplayedWitnessRequestsNeverRevivesARevokedKey(t *testing.T) {
	s, ws, ps := newStackBehindProxies(t, 3)
	app := s.dial()
	k1, k2, rc := aliceWithTwoKeys(t, app)
	if _, err := app.Sign(ctx(t), "alice", signParams("before"), k1); err != nil {
		t.Fatalf("setup: k1 before its revocation: %v", err)
	}
	storeMain := snapshotStore(t, s, "store-main.db")
	storeFork := forkAtOneWitness(t, s, ps, 2)
	var recorded [][]byte
	for _, p := range ps {
		recorded = append(recorded, p.requests()...)
	}
	var advances, confirms int
	for _, raw := range recorded {
		if r, err := wproto.OpenRequest(raw); err == nil {
			switch r.Op {
			case wproto.OpAdvance:
				advances++
			case wproto.OpConfirm:
				confirms++
			}
		}
	}
	if advances == 0 {
		t.Fatal("setup: the enclave signed no advance for the branch")
	}
	t.Logf("recorded %d advances and %d confirmations of the branch", advances, confirms)

	// The main history: the store as it was, witness 3 unheard. The user
	// revokes k1; witnesses 1 and 2 acknowledge.
	restartAtStore(t, s, ps, storeMain, 2)
	user := s.dial()
	user.PinWallet("alice", secretd.Pin{Instance: rc.Instance, Version: rc.Version})
	acknowledgeRevocation(t, user, rc.Version, k1, k2)

	// Every recorded request, replayed to the witnesses that hold the
	// revocation; then the store at the branch, every witness reachable.
	for _, i := range []int{0, 1} {
		for _, raw := range recorded {
			replayTo(t, ws[i].addr, raw)
		}
	}
	restartAtStore(t, s, ps, storeFork)
	revokedKeyRefused(t, s, k1, "after an acknowledged revocation and replays of every witness request")
}

func splitWords(s string) []string {
	var out []string
	w := ""
	for _, r := range s {
		if r == ' ' {
			if w != "" {
				out = append(out, w)
			}
			w = ""
			continue
		}
		w += string(r)
	}
	if w != "" {
		out = append(out, w)
	}
	return out
}

// copyFile copies a file (a witness's database, as its operator can).
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// stopWitness stops a witness process.
func (w *reviewWitness) stop() { w.p.stop(syscall.SIGTERM) }

// forkAtOneWitness has the operator's own wallets in alice's bucket make
// n writes that only witness 3 (index 2) holds: a fork of the bucket's
// chain, n versions ahead, whose buckets list alice as she is now. It
// returns a copy of the store at the fork's tip. Witness 1 is read
// throughout (the enclave needs two answers), never advanced.
func forkAtOneWitness(t *testing.T, s *stack, ps []*wproxy, n int) string {
	t.Helper()
	mates := bucketMates(t, "alice", n)
	op := s.dial()
	opKey := apiKey(t)
	ps[1].setMode(dropAll)
	ps[0].setMode(func(r *wproto.Request) bool { return r.Op == wproto.OpRead })
	for i, oid := range mates {
		_, err := op.CreateWallet(ctx(t), oid, secretd.CreateOptions{Words: 12}, opKey)
		if !errors.Is(err, secretd.ErrUnavailable) {
			t.Fatalf("fork write %d: got %v, want it stored but unconfirmed", i+1, err)
		}
	}
	return snapshotStore(t, s, "store-fork.db")
}

// TestAttackABranchOneWitnessHoldsNeverOutranksAnAcknowledgedRevocation:
// the operator makes its own wallets in alice's bucket write a fork that
// only witness 3 holds (its advance acknowledged there, never by a
// quorum), keeps witness 3 unreachable while the user's revocation is
// acknowledged by witnesses 1 and 2, then restarts the enclave with every
// witness reachable and the store at the fork. The fork is newer by
// version and lists alice before her revocation. Honest, witness 3 never
// serves a head no quorum certified. Colluding, its operator edits its
// database after each fork write to show the fork as committed, endorsed
// with its own key, so that the next fork write builds on it: its answers
// carry no quorum certificate and the enclave drops them.
func TestAttackABranchOneWitnessHoldsNeverOutranksAnAcknowledgedRevocation(t *testing.T) {
	for _, tc := range []struct {
		name     string
		colludes bool
	}{
		{name: "witness 3 honest", colludes: false},
		{name: "witness 3 colludes and certifies the fork alone", colludes: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ws, ps := newStackBehindProxies(t, 3)
			app := s.dial()
			k1, k2, rc := aliceWithTwoKeys(t, app)
			storeMain := snapshotStore(t, s, "store-main.db")
			var storeFork string
			if tc.colludes {
				storeFork = forkWithColludingWitness(t, s, ws, ps, 2)
			} else {
				storeFork = forkAtOneWitness(t, s, ps, 2)
			}

			// The main chain, witness 3 unheard: the user revokes k1.
			restartAtStore(t, s, ps, storeMain, 2)
			acknowledgeRevocation(t, s.dial(), rc.Version, k1, k2)

			// Every witness reachable again, the store at the fork, a restart.
			restartAtStore(t, s, ps, storeFork)
			revokedKeyRefused(t, s, k1, "an acknowledged revocation undone by a fork one witness holds")
		})
	}
}

// forkWithColludingWitness is forkAtOneWitness with witness 3 colluding:
// after each fork write its operator certifies the fork alone
// (certifyOwnCurrent) and the enclave is restarted to read it.
func forkWithColludingWitness(t *testing.T, s *stack, ws []*reviewWitness, ps []*wproxy, n int) string {
	t.Helper()
	mates := bucketMates(t, "alice", n)
	opKey := apiKey(t)
	ps[1].setMode(dropAll)
	ps[0].setMode(func(r *wproto.Request) bool { return r.Op == wproto.OpRead })
	for i, oid := range mates {
		_, err := s.dial().CreateWallet(ctx(t), oid, secretd.CreateOptions{Words: 12}, opKey)
		if !errors.Is(err, secretd.ErrUnavailable) {
			t.Fatalf("fork write %d: got %v, want it unconfirmed", i+1, err)
		}
		s.stop()
		ws[2].stop()
		moved := certifyOwnCurrent(t, ws[2].data)
		t.Logf("fork write %d: witness 3's operator marked %d uncommitted heads committed under its own key alone", i+1, moved)
		if i == 0 && moved == 0 {
			t.Fatal("setup: witness 3 holds no uncommitted head after the first fork write")
		}
		ws[2] = startReviewWitness(t, ws[2].data)
		ps[2].setTarget(ws[2].addr)
		s.start()
	}
	return snapshotStore(t, s, "store-fork.db")
}

// certifyOwnCurrent is a colluding witness's operator at work: with the
// witness stopped, it marks every bucket's current head committed, with a
// certificate of the one endorsement it can make, its own. It returns how
// many heads it moved.
func certifyOwnCurrent(t *testing.T, data string) int {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(data, witness.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(text)), "\n")
	seed, err := base64.StdEncoding.DecodeString(lines[len(lines)-1])
	if err != nil || len(seed) != ed25519.SeedSize {
		t.Fatalf("witness key file: %v", err)
	}
	key := ed25519.NewKeyFromSeed(seed)
	path := filepath.Join(data, "witness.db")
	db, err := sqlOpen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	type row struct {
		cluster []byte
		bucket  int64
		head    wproto.Head
	}
	var rows []row
	q, err := db.Query(`SELECT cluster, bucket, cur_version, cur_digest FROM heads WHERE cur_version > com_version`)
	if err != nil {
		t.Fatal(err)
	}
	for q.Next() {
		var r row
		var v int64
		if err := q.Scan(&r.cluster, &r.bucket, &v, &r.head.Digest); err != nil {
			t.Fatal(err)
		}
		r.head.Version = uint64(v)
		rows = append(rows, r)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		qc, err := wire.Marshal([]wproto.Endorsement{{Witness: key.Public().(ed25519.PublicKey), Signature: wproto.Acknowledge(key, r.cluster, uint32(r.bucket), r.head)}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`UPDATE heads SET com_version = cur_version, com_digest = cur_digest, com_qc = ?,
			changed = (SELECT epoch FROM clusters WHERE cluster = heads.cluster) + 1 WHERE cluster = ? AND bucket = ?`, qc, r.cluster, r.bucket); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`UPDATE clusters SET epoch = epoch + 1`); err != nil {
		t.Fatal(err)
	}
	return len(rows)
}

// TestAttackOneColludingWitnessOfFourCannotUndoARevocation: four
// witnesses, three acknowledge each change (2k-n-1 = 1 may collude). One
// witness colludes: its operator rolls its database back. The runner kept
// the revocation from witness 4, so witnesses 1, 2 and 3 acknowledged it;
// an enclave restarted later is shown witnesses 1 and 4 and one more
// (the k = 3 answers it needs): that one holds the revocation. (Three
// witnesses with k = 2 tolerate no colluding witness: the reads and the
// writes then share only one, which may be the colluding one.)
func TestAttackOneColludingWitnessOfFourCannotUndoARevocation(t *testing.T) {
	s, ws, ps := newStackBehindProxies(t, 4)
	app := s.dial()
	k1, k2, rc := aliceWithTwoKeys(t, app)
	storeOld := snapshotStore(t, s, "store-old.db")
	// The colluding witness's backup of its own state.
	w1DB := filepath.Join(ws[0].data, "witness.db")
	w1Old := filepath.Join(s.dir, "witness-1-old.db")
	wdb, err := sqlOpen(w1DB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wdb.Exec(`VACUUM INTO ?`, w1Old); err != nil {
		t.Fatal(err)
	}
	wdb.Close()

	ps[3].setMode(dropAll)
	acknowledgeRevocation(t, app, rc.Version, k1, k2)

	// Witness 1's operator restores its database.
	ws[0].stop()
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(w1DB + suffix)
	}
	copyFile(t, w1Old, w1DB)
	w1 := startReviewWitness(t, ws[0].data)
	ps[0].setTarget(w1.addr)

	restartAtStore(t, s, ps, storeOld, 2)
	revokedKeyRefused(t, s, k1, "one colluding witness of four (k = 3) and a dropped advance undo an acknowledged revocation")
}

func sqlOpen(path string) (*sql.DB, error) {
	return sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
}
