package witness

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/witness/wproto"
)

type testClient struct {
	t      *testing.T
	w      *Witness
	key    ed25519.PrivateKey
	holder []byte
}

func newTestClient(t *testing.T, w *Witness, seed byte) *testClient {
	return &testClient{t: t, w: w, key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32)), holder: bytes.Repeat([]byte{seed}, wproto.HolderLen)}
}

func (c *testClient) do(r *wproto.Request) *wproto.Response {
	c.t.Helper()
	r.Cluster, r.Holder, r.Nonce = c.key.Public().(ed25519.PublicKey), c.holder, bytes.Repeat([]byte{byte(time.Now().UnixNano())}, wproto.NonceLen)
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

func other(v uint64) wproto.Head {
	d := sha256.Sum256([]byte{byte(v), 1})
	return wproto.Head{Version: v, Digest: d[:]}
}

func openWitness(t *testing.T, dir string, now func() time.Time) *Witness {
	t.Helper()
	w, err := Open(context.Background(), Config{Data: dir, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func TestAWitnessMovesAHeadOnlyForward(t *testing.T) {
	w := openWitness(t, t.TempDir(), time.Now)
	c := newTestClient(t, w, 1)
	h1, h2 := head(1), head(2)
	steps := []struct {
		name     string
		from, to *wproto.Head
		want     string
		holds    wproto.Head
	}{
		{"an advance from the empty head", &wproto.Head{}, &h1, wproto.StatusOK, h1},
		{"the same advance again (a retry)", &wproto.Head{}, &h1, wproto.StatusOK, h1},
		{"an advance from a head it does not hold", ptr(head(5)), ptr(head(6)), wproto.StatusConflict, h1},
		{"another change at the same version", &wproto.Head{}, ptr(other(1)), wproto.StatusConflict, h1},
		{"a set back to the empty head", nil, &wproto.Head{}, wproto.StatusConflict, h1},
		{"an advance from the head it holds", &h1, &h2, wproto.StatusOK, h2},
		{"a set forward", nil, ptr(head(9)), wproto.StatusOK, head(9)},
		{"a set back", nil, &h2, wproto.StatusConflict, head(9)},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := c.do(&wproto.Request{Op: wproto.OpAdvance, Bucket: 7, From: s.from, To: s.to})
			if r.Status != s.want {
				t.Fatalf("status: got %s, want %s", r.Status, s.want)
			}
			if len(r.Heads) != 1 || !r.Heads[0].Head.Equal(s.holds) {
				t.Fatalf("the bucket's head: got %+v, want %+v", r.Heads, s.holds)
			}
		})
	}
	// Reads return what changed since an epoch, per cluster.
	all := c.do(&wproto.Request{Op: wproto.OpRead})
	if len(all.Heads) != 1 || !all.Heads[0].Head.Equal(head(9)) || all.Epoch != 3 {
		t.Fatalf("a full read: got %+v at epoch %d", all.Heads, all.Epoch)
	}
	if none := c.do(&wproto.Request{Op: wproto.OpRead, Since: all.Epoch}); len(none.Heads) != 0 {
		t.Fatalf("a read since the last epoch: got %+v, want nothing", none.Heads)
	}
	if theirs := newTestClient(t, w, 2).do(&wproto.Request{Op: wproto.OpRead}); len(theirs.Heads) != 0 || theirs.Epoch != 0 {
		t.Fatal("another cluster sees this cluster's heads")
	}
}

func ptr(h wproto.Head) *wproto.Head { return &h }

// A writer learns how long other holders' read leases still run, also
// across a restart of the witness.
func TestAWriterIsToldHowLongOtherLeasesRun(t *testing.T) {
	dir := t.TempDir()
	clock := time.Unix(1_800_000_000, 0)
	now := func() time.Time { return clock }
	w := openWitness(t, dir, now)
	reader, writer := newTestClient(t, w, 1), newTestClient(t, w, 1)
	writer.holder = bytes.Repeat([]byte{9}, wproto.HolderLen)
	advance := func(c *testClient, from, to uint64) *wproto.Response {
		return c.do(&wproto.Request{Op: wproto.OpAdvance, Bucket: 1, From: ptr(head(from)), To: ptr(head(to))})
	}
	if r := advance(writer, 0, 1); r.WaitMillis != 0 {
		t.Fatalf("with no lease out: wait %d ms, want 0", r.WaitMillis)
	}
	reader.do(&wproto.Request{Op: wproto.OpRead, LeaseMillis: 6000})
	clock = clock.Add(time.Second)
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
			if r := advance(tc.c, uint64(i+1), uint64(i+2)); r.WaitMillis != tc.want {
				t.Fatalf("wait: got %d ms, want %d", r.WaitMillis, tc.want)
			}
		})
	}
	// Restarted, it knows no lease, but not to trust that it knows none.
	w.Close()
	w2 := openWitness(t, dir, now)
	writer.w = w2
	if r := advance(writer, 3, 4); r.WaitMillis < 5000 {
		t.Fatalf("after a restart: wait %d ms, want at least the 5000 the old lease had left", r.WaitMillis)
	}
}

func TestAWitnessAnswersNothingItCannotVerify(t *testing.T) {
	w := openWitness(t, t.TempDir(), time.Now)
	c := newTestClient(t, w, 1)
	good := &wproto.Request{Op: wproto.OpRead, Cluster: c.key.Public().(ed25519.PublicKey), Holder: c.holder, Nonce: make([]byte, wproto.NonceLen)}
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
