package enclave

import (
	"bytes"
	"testing"
)

// A bucket stored again at a later version (a write stepping over heads
// no quorum took) parses back to the same content on the same head, with
// the digest of its new version.
func TestARenumberedBucketKeepsItsContentAndItsBase(t *testing.T) {
	first := emptyBucket(7).with("alice", entry{version: 1})
	second := first.with("bob", entry{version: 1})
	tests := []struct {
		name string
		b    *bucket
		to   uint64
	}{
		{"on the empty bucket", first, 4},
		{"on a stored version", second, 9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nb := tc.b.renumbered(tc.to)
			got, err := parseBucket(7, tc.to, nb.plaintext())
			if err != nil {
				t.Fatal(err)
			}
			if got.version != tc.to || !bytes.Equal(got.prev, tc.b.prev) || !bytes.Equal(got.entries, tc.b.entries) || !bytes.Equal(got.digest, nb.digest) {
				t.Fatalf("parsed %+v, want version %d on prev %x with the same entries and digest %x", got, tc.to, tc.b.prev, nb.digest)
			}
			if bytes.Equal(nb.digest, tc.b.digest) {
				t.Fatal("the renumbered bucket has the digest of the original version")
			}
		})
	}
}
