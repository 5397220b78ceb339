package enclave

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"runtime"
	"testing"

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
				f.views[i].heads[bh.Bucket] = f.shared(i, bh)
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
