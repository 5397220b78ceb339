package enclave

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"log/slog"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/internal/witness/wproto"
)

// TestEnclaveKeepsAboutOneCertificatePerBucketWhenWitnessesAgree fills
// the views of four witnesses (k = 3) with every bucket's head, each
// answer decoded on its own as it arrives from a witness, and measures
// what the views hold.
func TestEnclaveKeepsAboutOneCertificatePerBucketWhenWitnessesAgree(t *testing.T) {
	const n, k = 4, 3
	cluster := []byte("cluster")
	keys := make([]ed25519.PrivateKey, n)
	for i := range keys {
		seed := sha256.Sum256([]byte{byte(i)})
		keys[i] = ed25519.NewKeyFromSeed(seed[:])
	}
	// One encoded answer per bucket, as a witness sends it.
	encoded := make([][]byte, indexBuckets)
	for b := range uint32(indexBuckets) {
		d := sha256.Sum256(binary.BigEndian.AppendUint32(nil, b))
		h := wproto.Head{Version: 7, Digest: d[:]}
		bh := wproto.BucketHead{Bucket: b, Head: h}
		for _, key := range keys[:k] {
			bh.QC = append(bh.QC, wproto.Endorsement{Witness: key.Public().(ed25519.PublicKey), Signature: wproto.Acknowledge(key, cluster, b, h)})
		}
		var err error
		if encoded[b], err = wire.Marshal(bh); err != nil {
			t.Fatal(err)
		}
	}
	fill := func() *freshness {
		f := &freshness{views: make([]witnessView, n)}
		for i := range f.views {
			f.views[i].heads = map[uint32]certified{}
		}
		for i := range f.views {
			for _, msg := range encoded {
				var bh wproto.BucketHead
				if err := wire.Unmarshal(msg, &bh); err != nil {
					t.Fatal(err)
				}
				f.views[i].heads[bh.Bucket], _ = f.shared(i, bh)
			}
		}
		return f
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	f := fill()
	after := heap()
	for i := 1; i < n; i++ {
		for b := range uint32(indexBuckets) {
			if &f.views[i].heads[b].qc[0] != &f.views[0].heads[b].qc[0] {
				t.Fatalf("witness %d, bucket %d: its own copy of a certificate witness 1 holds", i+1, b)
			}
		}
	}
	t.Logf("%d witnesses, k = %d, %d buckets: the views hold %d KiB", n, k, indexBuckets, (after-before)/1024)
	runtime.KeepAlive(f)
}

// The index cache's budget bounds what it really holds: every bucket
// cached with a few wallets each takes no more memory than the sizes it
// counts (entries and bucketOverhead each), and the budget keeps it
// within indexCacheBytes however large the buckets grow.
func TestTheIndexCacheHoldsNoMoreThanItCounts(t *testing.T) {
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	tests := []struct {
		name    string
		wallets int // per bucket
	}{
		{"one wallet a bucket", 1},
		{"ten wallets a bucket", 10},
		{"2,000 wallets a bucket (ten million in all)", 2000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := heap()
			c := newSizedLRU(indexBuckets, indexCacheBytes, bucketEntry.size)
			for b := range uint32(indexBuckets) {
				// A stored bucket of tc.wallets sorted entries, as a load
				// parses it.
				pt := make([]byte, wproto.DigestLen+tc.wallets*entryLen)
				for w := range tc.wallets {
					binary.BigEndian.PutUint64(pt[wproto.DigestLen+w*entryLen:], uint64(w))
				}
				bk, err := parseBucket(b, 2, pt)
				if err != nil {
					t.Fatal(err)
				}
				c.put(bucketID(b), bucketEntry{bk})
			}
			held := heap() - before
			t.Logf("%d buckets cached of %d: %d KiB counted, %d KiB held", c.len(), indexBuckets, c.used>>10, held>>10)
			if c.used > indexCacheBytes {
				t.Fatalf("counted %d bytes, over the budget of %d", c.used, indexCacheBytes)
			}
			if held > uint64(c.used)+64<<10 {
				t.Fatalf("holds %d bytes but counts %d", held, c.used)
			}
			runtime.KeepAlive(c)
		})
	}
}

// A witness may answer a head that another view holds: its certificate
// is not checked then, and the other view's is kept. If that view moves
// on before the page is taken (a concurrent read of the other witness),
// the page's own certificate would be kept unchecked: take checks it
// then, and refuses a page whose certificate does not verify.
func TestAPageHeadNoOtherViewHoldsAnyMoreHasItsCertificateChecked(t *testing.T) {
	const n, k = 3, 2
	clusterPub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]ed25519.PrivateKey, n)
	pubs := make([][]byte, n)
	for i := range keys {
		seed := sha256.Sum256([]byte{byte(i)})
		keys[i] = ed25519.NewKeyFromSeed(seed[:])
		pubs[i] = keys[i].Public().(ed25519.PublicKey)
	}
	const b = 42
	head := func(version uint64) wproto.Head {
		d := sha256.Sum256(binary.BigEndian.AppendUint64(nil, version))
		return wproto.Head{Version: version, Digest: d[:]}
	}
	qc := func(h wproto.Head, signers []ed25519.PrivateKey) []wproto.Endorsement {
		var out []wproto.Endorsement
		for _, key := range signers {
			out = append(out, wproto.Endorsement{Witness: key.Public().(ed25519.PublicKey), Signature: wproto.Acknowledge(key, clusterPub, b, h)})
		}
		return out
	}
	_, stranger, _ := ed25519.GenerateKey(nil)
	h5, h6 := head(5), head(6)
	for _, tc := range []struct {
		name   string
		pageQC []wproto.Endorsement
		want   bool
	}{
		{"a valid certificate is taken", qc(h5, keys[:k]), true},
		{"a certificate signed by strangers is refused", qc(h5, []ed25519.PrivateKey{stranger, stranger}), false},
		{"a certificate of too few witnesses is refused", qc(h5, keys[:1]), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &freshness{
				e:         &Enclave{log: slog.New(slog.DiscardHandler)},
				witnesses: []api.WitnessSpec{{Name: "w1"}, {Name: "w2"}, {Name: "w3"}},
				keys:      pubs, quorum: k, pub: clusterPub,
				views: make([]witnessView, n),
			}
			for i := range f.views {
				f.views[i].heads = map[uint32]certified{}
			}
			f.views[0].heads[b] = certified{head: h5, qc: qc(h5, keys[:k])}
			page := &wproto.Response{Epoch: 1, Heads: []wproto.BucketHead{{Bucket: b, Head: h5, QC: tc.pageQC}}}
			checked, ok := f.verifyPage(1, page.Heads)
			if !ok || checked[0] {
				t.Fatalf("verifyPage: ok %v, checked %v; want ok and unchecked (view 1 holds the head)", ok, checked)
			}
			// Witness 1's view moves on meanwhile.
			f.views[0].heads[b] = certified{head: h6, qc: qc(h6, keys[:k])}
			now := time.Now()
			if got := f.take(1, page, checked, now, now); got != tc.want {
				t.Fatalf("take = %v, want %v", got, tc.want)
			}
			kept := f.views[1].heads[b]
			if tc.want != kept.head.Equal(h5) {
				t.Fatalf("view 2 holds %+v after take = %v", kept.head, tc.want)
			}
			if tc.want && !wproto.VerifyQC(clusterPub, b, kept.head, kept.qc, pubs, k) {
				t.Fatal("view 2 keeps a certificate that does not verify")
			}
		})
	}
}

// retryBallot aims a write that fewer than k witnesses acknowledged at
// the ballot k of those that answered accept: past the dead heads of its
// version they hold, and never further than the honest step past the
// lowest of them, whatever one colluding witness's answer asks for.
func TestARetriedWriteAimsAtTheBallotAQuorumAccepts(t *testing.T) {
	const step = wproto.MaxBallotStep
	at := func(version, ballot uint64) wproto.Head { return wproto.Head{Version: version, Ballot: ballot} }
	for _, tc := range []struct {
		name     string
		to       wproto.Head
		currents []wproto.Head
		quorum   int
		want     uint64
	}{
		{"fewer than k answered: no retry", at(5, 0), []wproto.Head{at(5, 3)}, 2, 0},
		{"every witness behind the version: nothing to step over", at(5, 0), []wproto.Head{at(4, 0), at(4, 0), at(4, 0)}, 2, 0},
		{"one dead head of the version at two of three: one past it", at(5, 0), []wproto.Head{at(5, 0), at(5, 0), at(4, 0)}, 2, 1},
		{"dead heads at different ballots: the k-th lowest need", at(5, 0), []wproto.Head{at(5, 7), at(5, 2), at(4, 0)}, 2, 3},
		{"k need nothing beyond the write's own ballot: no retry", at(5, 4), []wproto.Head{at(5, 1), at(4, 0), at(5, 9)}, 2, 0},
		{"a newer version at k: no retry", at(5, 0), []wproto.Head{at(6, 0), at(6, 0), at(4, 0)}, 2, 0},
		{"a colluder's huge ballot past the k-th: not looked at", at(5, 0), []wproto.Head{at(4, 0), at(5, math.MaxInt64-2), at(5, 0)}, 2, 1},
		{"a colluder's huge ballot as the k-th: one honest step, not the colluder's ballot", at(5, 0), []wproto.Head{at(5, 0), at(5, math.MaxInt64-2)}, 2, step},
		{"dead heads at two of four, k = 3: past the higher, the colluder's not looked at", at(5, 0), []wproto.Head{at(5, 10), at(5, 12), at(5, math.MaxInt64-2), at(4, 0)}, 3, 13},
		{"a colluder's huge ballot with every other witness behind: one step", at(5, 0), []wproto.Head{at(4, 0), at(5, math.MaxInt64-2), at(4, 0)}, 3, step},
		{"the last ballot held: no retry past it", at(5, 0), []wproto.Head{at(5, math.MaxInt64), at(5, math.MaxInt64)}, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := retryBallot(tc.to, tc.currents, tc.quorum); got != tc.want {
				t.Fatalf("retryBallot(%v, %v, %d) = %d, want %d", tc.to, tc.currents, tc.quorum, got, tc.want)
			}
		})
	}
}
