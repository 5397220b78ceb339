package witness

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/witness/wproto"
)

type testClient struct {
	t      *testing.T
	w      *Witness
	key    ed25519.PrivateKey
	holder []byte
	n      byte
}

func newTestClient(t *testing.T, w *Witness, seed byte) *testClient {
	return &testClient{t: t, w: w, key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32)), holder: bytes.Repeat([]byte{seed}, wproto.HolderLen)}
}

func (c *testClient) cluster() []byte { return c.key.Public().(ed25519.PublicKey) }

func (c *testClient) do(r *wproto.Request) *wproto.Response {
	c.t.Helper()
	c.n++
	r.Cluster, r.Holder, r.Nonce = c.cluster(), c.holder, bytes.Repeat([]byte{c.n}, wproto.NonceLen)
	b, err := wproto.SignRequest(c.key, r)
	if err != nil {
		c.t.Fatal(err)
	}
	out, err := wproto.OpenResponse(c.w.Handle(context.Background(), b), c.w.PublicKey(), r)
	if err != nil {
		c.t.Fatalf("the witness's answer: %v", err)
	}
	return out
}

func head(v uint64) wproto.Head {
	if v == 0 {
		return wproto.Head{}
	}
	d := sha256.Sum256([]byte{byte(v)})
	return wproto.Head{Version: v, Digest: d[:]}
}

func fork(v uint64) wproto.Head {
	d := sha256.Sum256([]byte{byte(v), 1})
	return wproto.Head{Version: v, Digest: d[:]}
}

func ptr(h wproto.Head) *wproto.Head { return &h }

func openWitness(t *testing.T, dir string, now func() time.Time) *Witness {
	t.Helper()
	w, err := Open(context.Background(), Config{Data: dir, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// others are two more witnesses' keys: with this one, a set of three.
var others = []ed25519.PrivateKey{ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)), ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32))}

func (c *testClient) set() [][]byte {
	return [][]byte{c.w.PublicKey(), others[0].Public().(ed25519.PublicKey), others[1].Public().(ed25519.PublicKey)}
}

// qc is a certificate for h by the two other witnesses (a quorum of 2).
func (c *testClient) qc(bucket uint32, h wproto.Head) []wproto.Endorsement {
	var out []wproto.Endorsement
	for _, k := range others {
		out = append(out, wproto.Endorsement{Witness: k.Public().(ed25519.PublicKey), Signature: wproto.Acknowledge(k, c.cluster(), bucket, h)})
	}
	return out
}

func (c *testClient) confirm(bucket uint32, h wproto.Head, qc []wproto.Endorsement) []byte {
	c.t.Helper()
	c.n++
	r := &wproto.Request{Op: wproto.OpConfirm, Cluster: c.cluster(), Holder: c.holder, Nonce: bytes.Repeat([]byte{c.n}, wproto.NonceLen),
		Bucket: bucket, To: &h, QC: qc, Witnesses: c.set(), Quorum: 2}
	b, err := wproto.SignRequest(c.key, r)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.w.Handle(context.Background(), b)
}

// A witness moves a bucket's current head by compare-and-swap and signs
// what it moved to; it records a committed head only with a certificate,
// and only forward; reads return committed heads only.
func TestAWitnessCommitsOnlyCertifiedHeadsForward(t *testing.T) {
	w := openWitness(t, filepath.Join(t.TempDir(), "w"), time.Now)
	c := newTestClient(t, w, 1)
	advances := []struct {
		name      string
		from, to  wproto.Head
		certified bool // the request carries from's certificate
		want      string
	}{
		{"an advance from the empty head", head(0), head(1), false, wproto.StatusOK},
		{"the same advance again (a retry)", head(0), head(1), false, wproto.StatusOK},
		{"an advance from a head it does not hold, uncertified", head(5), head(6), false, wproto.StatusConflict},
		{"another change at the same version", head(0), fork(1), false, wproto.StatusConflict},
		{"an advance from a newer head shown certified (a commit it missed)", head(1), head(2), true, wproto.StatusOK},
	}
	for _, a := range advances {
		t.Run(a.name, func(t *testing.T) {
			r := c.advance(7, a.from, a.to, a.certified)
			if r.Status != a.want {
				t.Fatalf("status: got %s, want %s", r.Status, a.want)
			}
			if a.want == wproto.StatusOK && !ed25519.Verify(w.PublicKey(), wproto.AckMessage(c.cluster(), 7, a.to), r.Ack) {
				t.Fatal("no valid acknowledgement of the new head")
			}
		})
	}
	// Advanced but not confirmed: nothing committed to read.
	if r := c.do(&wproto.Request{Op: wproto.OpRead}); len(r.Heads) != 0 {
		t.Fatalf("heads read before any confirmation: %+v", r.Heads)
	}
	_, stranger, _ := ed25519.GenerateKey(nil)
	confirms := []struct {
		name   string
		h      wproto.Head
		qc     []wproto.Endorsement
		answer bool
		holds  wproto.Head
	}{
		{"head 2 with a certificate by one witness only", head(2), c.qc(7, head(2))[:1], false, wproto.Head{}},
		{"head 2 with a certificate for another bucket", head(2), c.qc(8, head(2)), false, wproto.Head{}},
		{"head 2 with a stranger's endorsement", head(2), append(c.qc(7, head(2))[:1], wproto.Endorsement{Witness: stranger.Public().(ed25519.PublicKey),
			Signature: wproto.Acknowledge(stranger, c.cluster(), 7, head(2))}), false, wproto.Head{}},
		{"head 2 with one endorsement twice", head(2), []wproto.Endorsement{c.qc(7, head(2))[0], c.qc(7, head(2))[0]}, false, wproto.Head{}},
		{"head 2 with a quorum's certificate and a junk entry", head(2), append(c.qc(7, head(2)), wproto.Endorsement{Witness: make([]byte, 60000)}), false, wproto.Head{}},
		{"head 2 with a quorum's certificate and a member's other bytes", head(2), append(c.qc(7, head(2)),
			wproto.Endorsement{Witness: c.qc(7, head(2))[0].Witness, Signature: make([]byte, ed25519.SignatureSize)}), false, wproto.Head{}},
		{"head 2 with one endorsement and its key's 33-byte extension", head(2), []wproto.Endorsement{c.qc(7, head(2))[0],
			{Witness: append(append([]byte(nil), c.qc(7, head(2))[0].Witness...), 0), Signature: c.qc(7, head(2))[0].Signature}}, false, wproto.Head{}},
		{"head 2 with a quorum's certificate", head(2), c.qc(7, head(2)), true, head(2)},
		{"head 1, older, with its certificate", head(1), c.qc(7, head(1)), true, head(2)},
		{"head 4 with its certificate, past the current head", head(4), c.qc(7, head(4)), true, head(4)},
	}
	for _, cf := range confirms {
		t.Run(cf.name, func(t *testing.T) {
			out := c.confirm(7, cf.h, cf.qc)
			if (out != nil) != cf.answer {
				t.Fatalf("answered: %t, want %t", out != nil, cf.answer)
			}
			if got := c.committed(7); !got.Equal(cf.holds) {
				t.Fatalf("committed head: got %+v, want %+v", got, cf.holds)
			}
		})
	}
	if theirs := newTestClient(t, w, 2).do(&wproto.Request{Op: wproto.OpRead}); len(theirs.Heads) != 0 {
		t.Fatal("another cluster sees this cluster's heads")
	}
}

// A write at a higher ballot steps over heads of its version no quorum
// took; every acknowledgement bars the commit of earlier heads (one of
// them may be certified too), and a write builds only on the committed
// head or a newer certified one.
func TestAWitnessStepsOverDeadHeadsAndBarsEarlierCommits(t *testing.T) {
	w := openWitness(t, filepath.Join(t.TempDir(), "w"), time.Now)
	c := newTestClient(t, w, 1)
	c.advance(7, head(0), head(1), false)
	if c.confirm(7, head(1), c.qc(7, head(1))) == nil {
		t.Fatal("setup: confirm head 1")
	}
	steps := []struct {
		name      string
		from, to  wproto.Head
		certified bool
		want      string
		confirm   *wproto.Head // then confirmed with its certificate
		committed wproto.Head  // the committed head after
	}{
		{"a write on the committed head", head(1), head(2), false, wproto.StatusOK, nil, head(1)},
		{"another write of that version at a higher ballot, stepping over it", head(1), ballot(2, 1), false, wproto.StatusOK, ptr(head(2)), head(1)},
		{"another head of that version and ballot", head(1), wproto.Head{Version: 2, Digest: head(2).Digest, Ballot: 1}, false, wproto.StatusConflict, nil, head(1)},
		{"a lower ballot", head(1), wproto.Head{Version: 2, Digest: head(2).Digest, Ballot: 0}, false, wproto.StatusConflict, nil, head(1)},
		{"a ballot more than a step past the current", head(1), wproto.Head{Version: 2, Digest: head(2).Digest, Ballot: 2 + wproto.MaxBallotStep}, false,
			wproto.StatusConflict, nil, head(1)},
		{"a ballot a step past the current", head(1), wproto.Head{Version: 2, Digest: head(2).Digest, Ballot: 1 + wproto.MaxBallotStep}, false,
			wproto.StatusOK, nil, head(1)},
		{"a write on a newer head shown certified", ballot(2, 1), head(3), true, wproto.StatusOK, ptr(head(3)), head(3)},
		{"a write on a head older than the committed one", head(1), ballot(2, 9), true, wproto.StatusConflict, ptr(ballot(2, 9)), head(3)},
		{"a write on the new committed head", head(3), head(4), false, wproto.StatusOK, ptr(head(4)), head(4)},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if r := c.advance(7, st.from, st.to, st.certified); r.Status != st.want {
				t.Fatalf("status: got %s, want %s", r.Status, st.want)
			}
			if st.confirm != nil {
				c.confirm(7, *st.confirm, c.qc(7, *st.confirm))
			}
			if got := c.committed(7); !got.Equal(st.committed) {
				t.Fatalf("committed: got v%d ballot %d, want v%d ballot %d", got.Version, got.Ballot, st.committed.Version, st.committed.Ballot)
			}
		})
	}
}

// ballot is a head of version v at ballot b (another content than head(v)).
func ballot(v, b uint64) wproto.Head {
	h := fork(v)
	h.Ballot = b
	return h
}

// advance asks the witness to move bucket b from `from` to `to`, with
// from's certificate when certified.
func (c *testClient) advance(b uint32, from, to wproto.Head, certified bool) *wproto.Response {
	c.t.Helper()
	r := &wproto.Request{Op: wproto.OpAdvance, Bucket: b, From: ptr(from), To: ptr(to)}
	if certified {
		r.QC, r.Witnesses, r.Quorum = c.qc(b, from), c.set(), 2
	}
	return c.do(r)
}

// committed is the witness's committed head of bucket b (checked against
// its certificate), or the empty head.
func (c *testClient) committed(b uint32) wproto.Head {
	c.t.Helper()
	for _, h := range c.do(&wproto.Request{Op: wproto.OpRead}).Heads {
		if h.Bucket == b {
			if !wproto.VerifyQC(c.cluster(), b, h.Head, h.QC, c.set(), 2) {
				c.t.Fatal("a read head without its certificate")
			}
			return h.Head
		}
	}
	return wproto.Head{}
}

// Reads return heads in the order they changed, a page at a time.
func TestAWitnessReadsHeadsAPageAtATime(t *testing.T) {
	w := openWitness(t, filepath.Join(t.TempDir(), "w"), time.Now)
	c := newTestClient(t, w, 1)
	const buckets = 5
	for b := range uint32(buckets) {
		c.do(&wproto.Request{Op: wproto.OpAdvance, Bucket: b, From: ptr(head(0)), To: ptr(head(1))})
		if c.confirm(b, head(1), c.qc(b, head(1))) == nil {
			t.Fatal("a confirmation went unanswered")
		}
	}
	var got []uint32
	since := uint64(0)
	for page := 0; page < 10; page++ {
		r := c.do(&wproto.Request{Op: wproto.OpRead, Since: since, Limit: 2})
		for _, h := range r.Heads {
			got = append(got, h.Bucket)
		}
		since = r.Epoch
		if !r.More {
			break
		}
	}
	if len(got) != buckets {
		t.Fatalf("buckets read in pages of 2: got %v, want all %d", got, buckets)
	}
	if r := c.do(&wproto.Request{Op: wproto.OpRead, Since: since}); len(r.Heads) != 0 || r.More {
		t.Fatalf("a read since the last epoch: got %+v", r.Heads)
	}
}

// twoHolders opens a witness in dir on a clock the test moves, with two
// enclaves of one cluster (two holders) asking it.
func twoHolders(t *testing.T) (dir string, clock *time.Time, now func() time.Time, w *Witness, reader, writer *testClient) {
	dir, clock = filepath.Join(t.TempDir(), "w"), new(time.Time)
	*clock = time.Unix(1_800_000_000, 0)
	now = func() time.Time { return *clock }
	w = openWitness(t, dir, now)
	reader, writer = newTestClient(t, w, 1), newTestClient(t, w, 1)
	writer.holder = bytes.Repeat([]byte{9}, wproto.HolderLen)
	return dir, clock, now, w, reader, writer
}

// A writer learns, when it confirms, how long other holders' read leases
// still run, also across a restart of the witness.
func TestAWriterIsToldHowLongOtherLeasesRun(t *testing.T) {
	dir, clock, now, w, reader, writer := twoHolders(t)
	confirm := func(c *testClient, v uint64) *wproto.Response {
		t.Helper()
		c.n++
		r := &wproto.Request{Op: wproto.OpConfirm, Cluster: c.cluster(), Holder: c.holder, Nonce: bytes.Repeat([]byte{c.n, 3}, wproto.NonceLen/2),
			Bucket: 1, To: ptr(head(v)), QC: c.qc(1, head(v)), Witnesses: c.set(), Quorum: 2}
		b, _ := wproto.SignRequest(c.key, r)
		out, err := wproto.OpenResponse(c.w.Handle(context.Background(), b), c.w.PublicKey(), r)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if r := confirm(writer, 1); r.WaitMillis != 0 {
		t.Fatalf("with no lease out: wait %d ms, want 0", r.WaitMillis)
	}
	reader.do(&wproto.Request{Op: wproto.OpRead, LeaseMillis: 6000})
	*clock = clock.Add(time.Second)
	tests := []struct {
		name string
		c    *testClient
		want uint64
	}{
		{"another holder", writer, 5000},
		{"the lease holder itself", reader, 0},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if r := confirm(tc.c, uint64(i+2)); r.WaitMillis != tc.want {
				t.Fatalf("wait: got %d ms, want %d", r.WaitMillis, tc.want)
			}
		})
	}
	// Restarted, it knows no lease, but not to trust that it knows none.
	w.Close()
	w2 := openWitness(t, dir, now)
	writer.w = w2
	if r := confirm(writer, 4); r.WaitMillis < 5000 {
		t.Fatalf("after a restart: wait %d ms, want at least the 5000 the old lease had left", r.WaitMillis)
	}
}

// A committed head is settled once every lease granted before its commit,
// except the committing holder's, has run out; reads say how long that
// is, and a restart does not forget it.
func TestAReadSaysWhenACommittedHeadSettles(t *testing.T) {
	dir, clock, now, w, reader, writer := twoHolders(t)
	settle := func(c *testClient, bucket uint32) uint64 {
		t.Helper()
		for _, h := range c.do(&wproto.Request{Op: wproto.OpRead, LeaseMillis: 1}).Heads {
			if h.Bucket == bucket {
				return h.SettleMillis
			}
		}
		t.Fatalf("bucket %d not read", bucket)
		return 0
	}
	writer.confirm(1, head(1), writer.qc(1, head(1)))
	reader.do(&wproto.Request{Op: wproto.OpRead, LeaseMillis: 6000})
	*clock = clock.Add(time.Second)
	writer.confirm(2, head(1), writer.qc(2, head(1)))
	reader.confirm(3, head(1), reader.qc(3, head(1)))
	*clock = clock.Add(2 * time.Second)
	tests := []struct {
		name   string
		bucket uint32
		want   uint64
	}{
		{"committed with no other lease out", 1, 0},
		{"committed by another holder during a 6 s lease, 3 s later", 2, 3000},
		{"committed by the lease's own holder", 3, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := settle(writer, tc.bucket); got != tc.want {
				t.Fatalf("settles in %d ms, want %d", got, tc.want)
			}
		})
	}
	w.Close()
	writer.w = openWitness(t, dir, now)
	if got := settle(writer, 2); got != 3000 {
		t.Fatalf("after a restart: settles in %d ms, want 3000", got)
	}
	*clock = clock.Add(4 * time.Second)
	if got := settle(writer, 2); got != 0 {
		t.Fatalf("after the lease ran out: settles in %d ms, want 0", got)
	}
}

func TestAWitnessAnswersNothingItCannotVerify(t *testing.T) {
	w := openWitness(t, filepath.Join(t.TempDir(), "w"), time.Now)
	c := newTestClient(t, w, 1)
	good := &wproto.Request{Op: wproto.OpRead, Cluster: c.cluster(), Holder: c.holder, Nonce: make([]byte, wproto.NonceLen)}
	signed, _ := wproto.SignRequest(c.key, good)
	_, strangerKey, _ := ed25519.GenerateKey(nil)
	byStranger, _ := wproto.SignRequest(strangerKey, good)
	bad := *good
	bad.Op = "delete"
	badOp, _ := wproto.SignRequest(c.key, &bad)
	tests := []struct {
		name string
		b    []byte
	}{
		{"not a message", []byte("hello")},
		{"signed by a key that is not the cluster's", byStranger},
		{"an unknown operation", badOp},
		{"a truncated request", signed[:len(signed)-3]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if out := w.Handle(context.Background(), tc.b); out != nil {
				t.Fatalf("answered %x", out)
			}
		})
	}
	if w.Handle(context.Background(), signed) == nil {
		t.Fatal("the good request got no answer")
	}
}

// serveTCP serves w on a loopback port until the test ends.
func serveTCP(t *testing.T, w *Witness) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// readsOverTCP sends one signed read on a new connection and reports
// whether a valid answer came back within 2 s.
func readsOverTCP(t *testing.T, w *Witness, addr string) bool {
	t.Helper()
	c := newTestClient(t, w, 1)
	r := &wproto.Request{Op: wproto.OpRead, Cluster: c.cluster(), Holder: c.holder, Nonce: make([]byte, wproto.NonceLen), LeaseMillis: 3000}
	b, err := wproto.SignRequest(c.key, r)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if WriteMessage(conn, b) != nil {
		return false
	}
	reply, err := ReadMessage(conn)
	if err != nil {
		return false
	}
	_, err = wproto.OpenResponse(reply, w.PublicKey(), r)
	return err == nil
}

// Anyone who reaches a witness (no key needed) may open connections and
// send nothing, or half a request: a runner's read is still answered,
// and the witness holds little for requests it has not checked.
func TestAWitnessServesRunnersBesideConnectionsThatSendNothing(t *testing.T) {
	w := openWitness(t, filepath.Join(t.TempDir(), "w"), time.Now)
	addr := serveTCP(t, w)
	var open []net.Conn
	t.Cleanup(func() {
		for _, c := range open {
			c.Close()
		}
	})
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
		return c
	}
	heap := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapInuse)
	}
	before := heap()
	// Requests announced at the largest message, sent but their last
	// byte (a witness that took them would hold 1 MiB each).
	const halfSent = 32
	for range halfSent {
		c := dial()
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], wproto.MaxMessage)
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.Write(append(hdr[:], make([]byte, wproto.MaxMessage-1)...))
	}
	for range maxConns {
		dial()
	}
	time.Sleep(200 * time.Millisecond)
	grew := heap() - before
	t.Logf("%d half-sent requests and %d idle connections: the heap grew by %d KiB", halfSent, maxConns, grew>>10)
	if grew > 4<<20 {
		t.Errorf("the witness holds %d KiB for connections that sent no whole request", grew>>10)
	}
	if !readsOverTCP(t, w, addr) {
		t.Errorf("beside %d connections that sent no request, a valid read is not answered", halfSent+maxConns)
	}
	// A request announced larger than any request: the connection ends.
	_ = open[0].SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := open[0].Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("a request announced at %d bytes: the connection stays open (%v)", wproto.MaxMessage, err)
	}
}

// A head stepped over may be certified too (its acknowledgements came
// first): a witness that stepped over a head never commits it, and one
// that committed a head never acknowledges a write stepping over it. So a
// head committed at k witnesses is never stepped over by a certified one
// (any k witnesses include one that committed it), and one stepped over
// at k witnesses never commits at k.
func TestAWitnessNeverCommitsBothAHeadAndAWriteThatSteppedOverIt(t *testing.T) {
	r, x := head(2), ballot(2, 1) // R on head 1; X on head 1 too, stepping over R
	tests := []struct {
		name      string
		confirmR  bool // R's confirmation arrives before X's advance
		advanceX  string
		committed wproto.Head // after R's confirmation (and X's, when this witness acknowledged X)
	}{
		{"X's advance first: R is never committed", false, wproto.StatusOK, x},
		{"R's confirmation first: X is refused", true, wproto.StatusConflict, r},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := openWitness(t, filepath.Join(t.TempDir(), "w"), time.Now)
			c := newTestClient(t, w, 1)
			const b = 9
			for _, step := range [][2]wproto.Head{{head(0), head(1)}, {head(1), r}} {
				if got := c.do(&wproto.Request{Op: wproto.OpAdvance, Bucket: b, From: ptr(step[0]), To: ptr(step[1])}); got.Status != wproto.StatusOK {
					t.Fatalf("setup: advance to v%d: %s", step[1].Version, got.Status)
				}
				if step[1].Equal(head(1)) && c.confirm(b, head(1), c.qc(b, head(1))) == nil {
					t.Fatal("setup: confirm head 1")
				}
			}
			if tc.confirmR {
				c.confirm(b, r, c.qc(b, r))
			}
			if got := c.do(&wproto.Request{Op: wproto.OpAdvance, Bucket: b, From: ptr(head(1)), To: ptr(x)}); got.Status != tc.advanceX {
				t.Fatalf("X's advance: got %s, want %s", got.Status, tc.advanceX)
			}
			c.confirm(b, r, c.qc(b, r))
			if !tc.confirmR {
				c.confirm(b, x, c.qc(b, x))
			}
			heads := c.do(&wproto.Request{Op: wproto.OpRead, LeaseMillis: 1}).Heads
			if len(heads) != 1 || !heads[0].Head.Equal(tc.committed) {
				t.Fatalf("committed: %+v, want v%d %x", heads, tc.committed.Version, tc.committed.Digest[:4])
			}
		})
	}
}

// A witness that never heard of R (v2 on head 1, acknowledged by the
// others) acknowledges X (v2 at ballot 1 on head 1, a write that stepped
// over R at the others) on its current head: it must not then commit R
// and X in turn, though X does not build on R (every acknowledgement bars
// earlier commits). Found by an independent review.
func TestAWitnessNeverCommitsAHeadBelowOneItAcknowledged(t *testing.T) {
	r, x := head(2), ballot(2, 1)
	w := openWitness(t, filepath.Join(t.TempDir(), "w"), time.Now)
	c := newTestClient(t, w, 1)
	const b = 9
	if got := c.do(&wproto.Request{Op: wproto.OpAdvance, Bucket: b, From: ptr(head(0)), To: ptr(head(1))}); got.Status != wproto.StatusOK {
		t.Fatal("setup: advance to 1")
	}
	if c.confirm(b, head(1), c.qc(b, head(1))) == nil {
		t.Fatal("setup: confirm 1")
	}
	if got := c.do(&wproto.Request{Op: wproto.OpAdvance, Bucket: b, From: ptr(head(1)), To: ptr(x)}); got.Status != wproto.StatusOK {
		t.Fatalf("X's advance: %s", got.Status)
	}
	c.confirm(b, r, c.qc(b, r))
	afterR := c.do(&wproto.Request{Op: wproto.OpRead, LeaseMillis: 1}).Heads
	c.confirm(b, x, c.qc(b, x))
	afterX := c.do(&wproto.Request{Op: wproto.OpRead, LeaseMillis: 1}).Heads
	t.Logf("committed after R's confirm: v%d; after X's: v%d", afterR[0].Head.Version, afterX[0].Head.Version)
	if afterR[0].Head.Equal(r) && afterX[0].Head.Equal(x) {
		t.Fatal("the witness committed R and then X, which stepped over R")
	}
}

// A witness that stepped over R (v2) to X (v2 at ballot 1) and then
// restarts still refuses to commit R.
func TestAWitnessKeepsItsBarAcrossARestart(t *testing.T) {
	r, x := head(2), ballot(2, 1)
	dir := filepath.Join(t.TempDir(), "w")
	w := openWitness(t, dir, time.Now)
	c := newTestClient(t, w, 1)
	const b = 9
	c.do(&wproto.Request{Op: wproto.OpAdvance, Bucket: b, From: ptr(head(0)), To: ptr(head(1))})
	c.confirm(b, head(1), c.qc(b, head(1)))
	c.do(&wproto.Request{Op: wproto.OpAdvance, Bucket: b, From: ptr(head(1)), To: ptr(r)})
	if got := c.do(&wproto.Request{Op: wproto.OpAdvance, Bucket: b, From: ptr(head(1)), To: ptr(x)}); got.Status != wproto.StatusOK {
		t.Fatalf("X's step-over: %s", got.Status)
	}
	w.Close()
	w2 := openWitness(t, dir, time.Now)
	c2 := newTestClient(t, w2, 1)
	c2.n = 100
	c2.confirm(b, r, c2.qc(b, r))
	heads := c2.do(&wproto.Request{Op: wproto.OpRead, LeaseMillis: 1}).Heads
	t.Logf("committed after restart and R's confirm: v%d", heads[0].Head.Version)
	if heads[0].Head.Equal(r) {
		t.Fatal("the restarted witness committed R below its bar")
	}
}
