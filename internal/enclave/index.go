package enclave

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/niomon/niomon/internal/witness/wproto"
)

// The wallet index says, for every oid, which wallet instance lives there,
// at which version, and which sealed record that version is (its digest:
// two records the enclave sealed for one version, one of a write that
// never committed, are told apart). It is split into indexBuckets buckets by a hash
// of the oid; each bucket is one sealed object in the store (kind
// "index", its version in the AEAD associated data) whose content names
// the digest of the bucket's previous version, so versions form a chain.
// The cluster's witnesses hold each bucket's head (version and digest);
// see fresh.go. A wallet is served only if the store's bucket matches the
// head and lists the wallet's instance at the stored wallet's version.

const (
	kindIndex    = "index"
	indexBuckets = 4096 // fixed: a bucket's number is part of its id
	entryLen     = oidHashLen + instanceLen + 8 + recordHashLen
	oidHashLen   = 16
	// recordHashLen: a truncated SHA-256 of the sealed wallet object. The
	// store cannot make sealed objects, so a second one with the same 16
	// bytes would have to be found among those the enclave made.
	recordHashLen = 16
)

// bucketOf is the bucket of oid.
func bucketOf(oid string) uint32 {
	h := sha256.Sum256([]byte("niomon/secretd/v2/index-bucket\x00" + oid))
	return binary.BigEndian.Uint32(h[:4]) % indexBuckets
}

func bucketID(b uint32) string { return fmt.Sprintf("%03x", b) }

func oidHash(oid string) [oidHashLen]byte {
	h := sha256.Sum256([]byte("niomon/secretd/v2/index-oid\x00" + oid))
	var out [oidHashLen]byte
	copy(out[:], h[:])
	return out
}

// bucket is one version of a bucket: the digest of the version before it
// and its entries, sorted by oid hash, each oid hash ‖ instance ‖ version.
type bucket struct {
	number  uint32
	version uint64
	prev    []byte // nil for version 1 (after the empty version 0)
	entries []byte
	digest  []byte
}

// entry is one wallet of a bucket.
type entry struct {
	instance instanceID
	version  uint64
	record   [recordHashLen]byte
}

// equal reports whether e and o list the same wallet record.
func (e entry) equal(o entry) bool {
	return e.instance.equal(o.instance) && e.version == o.version && e.record == o.record
}

// recordHash is the digest the index keeps of a sealed wallet object.
func recordHash(blob []byte) [recordHashLen]byte {
	h := sha256.Sum256(append([]byte("niomon/secretd/v2/index-record\x00"), blob...))
	var out [recordHashLen]byte
	copy(out[:], h[:])
	return out
}

// plaintext is the sealed form of b.
func (b *bucket) plaintext() []byte {
	prev := b.prev
	if prev == nil {
		prev = make([]byte, wproto.DigestLen)
	}
	return append(append([]byte(nil), prev...), b.entries...)
}

// digestOf is the digest a head holds for a bucket's content at version.
func digestOf(number uint32, version uint64, plaintext []byte) []byte {
	h := sha256.New()
	h.Write([]byte("niomon/secretd/v2/index-bucket-digest\x00"))
	var hdr [12]byte
	binary.BigEndian.PutUint32(hdr[:4], number)
	binary.BigEndian.PutUint64(hdr[4:], version)
	h.Write(hdr[:])
	h.Write(plaintext)
	return h.Sum(nil)
}

// parseBucket reads a bucket's sealed content at version.
func parseBucket(number uint32, version uint64, pt []byte) (*bucket, error) {
	if len(pt) < wproto.DigestLen || (len(pt)-wproto.DigestLen)%entryLen != 0 {
		return nil, errors.New("index bucket is malformed")
	}
	b := &bucket{number: number, version: version, entries: append([]byte(nil), pt[wproto.DigestLen:]...)}
	if version > 1 {
		b.prev = append([]byte(nil), pt[:wproto.DigestLen]...)
	}
	for i := entryLen; i < len(b.entries); i += entryLen {
		if bytes.Compare(b.entries[i-entryLen:i-entryLen+oidHashLen], b.entries[i:i+oidHashLen]) >= 0 {
			return nil, errors.New("index bucket is not sorted")
		}
	}
	b.digest = digestOf(number, version, pt)
	return b, nil
}

// emptyBucket is version 0 of bucket number: no wallets, not stored.
func emptyBucket(number uint32) *bucket { return &bucket{number: number} }

func (b *bucket) head() wproto.Head { return wproto.Head{Version: b.version, Digest: b.digest} }

// find returns the position of oid's entry, or where it would go.
func (b *bucket) find(h [oidHashLen]byte) (int, bool) {
	n := len(b.entries) / entryLen
	i := sort.Search(n, func(i int) bool { return bytes.Compare(b.entries[i*entryLen:i*entryLen+oidHashLen], h[:]) >= 0 })
	return i, i < n && subtle.ConstantTimeCompare(b.entries[i*entryLen:i*entryLen+oidHashLen], h[:]) == 1
}

// lookup returns oid's entry.
func (b *bucket) lookup(oid string) (entry, bool) {
	i, ok := b.find(oidHash(oid))
	if !ok {
		return entry{}, false
	}
	e := b.entries[i*entryLen:]
	var out entry
	copy(out.instance[:], e[oidHashLen:])
	out.version = binary.BigEndian.Uint64(e[oidHashLen+instanceLen:])
	copy(out.record[:], e[oidHashLen+instanceLen+8:entryLen])
	return out, true
}

// with returns the next version of b with oid's entry set to e.
func (b *bucket) with(oid string, e entry) *bucket {
	h := oidHash(oid)
	i, found := b.find(h)
	rec := make([]byte, 0, entryLen)
	rec = append(append(append(rec, h[:]...), e.instance[:]...), binary.BigEndian.AppendUint64(nil, e.version)...)
	rec = append(rec, e.record[:]...)
	var entries []byte
	if found {
		entries = append(append(append([]byte(nil), b.entries[:i*entryLen]...), rec...), b.entries[(i+1)*entryLen:]...)
	} else {
		entries = append(append(append([]byte(nil), b.entries[:i*entryLen]...), rec...), b.entries[i*entryLen:]...)
	}
	nb := &bucket{number: b.number, version: b.version + 1, prev: b.digest, entries: entries}
	nb.digest = digestOf(nb.number, nb.version, nb.plaintext())
	return nb
}
