package wproto

import (
	"bytes"
	"crypto/ed25519"
	"math"
	"testing"
)

func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func testHead(v uint64) Head {
	return Head{Version: v, Digest: bytes.Repeat([]byte{byte(v) | 1}, DigestLen)}
}

// certificate is an endorsement of h in bucket b by each of keys.
func certificate(cluster []byte, b uint32, h Head, keys ...ed25519.PrivateKey) []Endorsement {
	var qc []Endorsement
	for _, k := range keys {
		qc = append(qc, Endorsement{Witness: k.Public().(ed25519.PublicKey), Signature: Acknowledge(k, cluster, b, h)})
	}
	return qc
}

// A certificate is a quorum of valid endorsements by distinct members of
// the set and nothing else: one entry that is not exactly that fails it
// whole, so a certificate is never larger than the set.
func TestACertificateIsAQuorumOfDistinctMembersAndNothingElse(t *testing.T) {
	cluster := testKey(1).Public().(ed25519.PublicKey)
	w1, w2, w3, stranger := testKey(2), testKey(3), testKey(4), testKey(5)
	set := [][]byte{w1.Public().(ed25519.PublicKey), w2.Public().(ed25519.PublicKey), w3.Public().(ed25519.PublicKey)}
	h := testHead(3)
	two := certificate(cluster, 9, h, w1, w2)
	e1 := two[0]
	tests := []struct {
		name string
		h    Head
		qc   []Endorsement
		set  [][]byte
		want bool
	}{
		{"two of three members", h, two, set, true},
		{"all three members", h, certificate(cluster, 9, h, w1, w2, w3), set, true},
		{"one member", h, two[:1], set, false},
		{"one member's endorsement twice", h, []Endorsement{e1, e1}, set, false},
		{"one member listed twice in the set", h, []Endorsement{e1, e1}, append(set, set[0]), false},
		{"two members and a stranger", h, append(certificate(cluster, 9, h, w1, w2), certificate(cluster, 9, h, stranger)...), set, false},
		{"two members and an empty entry", h, append(certificate(cluster, 9, h, w1, w2), Endorsement{}), set, false},
		{"two members and a huge junk key", h, append(certificate(cluster, 9, h, w1, w2), Endorsement{Witness: make([]byte, 60000)}), set, false},
		{"a member's key with a byte appended", h, []Endorsement{{Witness: append(append([]byte(nil), e1.Witness...), 0), Signature: e1.Signature}, two[1]}, set, false},
		{"a member's signature with a byte appended", h, []Endorsement{{Witness: e1.Witness, Signature: append(append([]byte(nil), e1.Signature...), 0)}, two[1]}, set, false},
		{"endorsements of another bucket", h, certificate(cluster, 8, h, w1, w2), set, false},
		{"endorsements of another head", testHead(4), two, set, false},
		{"the empty head with no endorsement", Head{}, nil, set, true},
		{"the empty head with endorsements", Head{}, two, set, false},
		{"a set over the limit", h, two, append(set, make([][]byte, MaxWitnesses)...), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := VerifyQC(cluster, 9, tc.h, tc.qc, tc.set, 2); got != tc.want {
				t.Fatalf("VerifyQC: got %t, want %t", got, tc.want)
			}
		})
	}
}

// An advance goes to the next version (at any ballot a store keeps).
func TestAnAdvanceGoesToTheNextVersionOnly(t *testing.T) {
	ck := testKey(1)
	tests := []struct {
		name     string
		from, to Head
		opens    bool
	}{
		{"from the empty head to version 1", Head{}, testHead(1), true},
		{"from version 7 to 8", testHead(7), testHead(8), true},
		{"from version 7 to 9", testHead(7), testHead(9), false},
		{"from version 7 to 8 at a higher ballot", testHead(7), Head{Version: 8, Digest: testHead(8).Digest, Ballot: 3}, true},
		{"at a ballot past what a store keeps", testHead(7), Head{Version: 8, Digest: testHead(8).Digest, Ballot: math.MaxInt64 + 1}, false},
		{"from version 7 to 6", testHead(7), testHead(6), false},
		{"from version 7 to 7", testHead(7), testHead(7), false},
		{"from the last version to the empty head", testHead(math.MaxUint64), Head{}, false},
		{"to the last version a store keeps", testHead(math.MaxInt64 - 1), testHead(math.MaxInt64), true},
		{"to a version past what a store keeps", testHead(math.MaxInt64), testHead(math.MaxInt64 + 1), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := SignRequest(ck, &Request{Op: OpAdvance, Cluster: ck.Public().(ed25519.PublicKey), Holder: make([]byte, HolderLen),
				Nonce: make([]byte, NonceLen), From: &tc.from, To: &tc.to})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := OpenRequest(b); (err == nil) != tc.opens {
				t.Fatalf("opens: got %v, want %t", err, tc.opens)
			}
		})
	}
}

// The largest read answer a witness can give (the most heads, each with
// the largest certificate and the largest numbers) fits one message.
func TestTheLargestReadAnswerFitsOneMessage(t *testing.T) {
	ck, wk := testKey(1), testKey(2)
	var keys []ed25519.PrivateKey
	for i := range MaxWitnesses {
		keys = append(keys, testKey(byte(10+i)))
	}
	resp := &Response{Op: OpRead, Witness: wk.Public().(ed25519.PublicKey), Cluster: ck.Public().(ed25519.PublicKey), Nonce: make([]byte, NonceLen),
		Status: StatusOK, Epoch: math.MaxUint64, More: true, LeaseMillis: uint64(MaxLease.Milliseconds())}
	h := Head{Version: math.MaxInt64, Digest: bytes.Repeat([]byte{0xff}, DigestLen)}
	qc := certificate(resp.Cluster, MaxBuckets-1, h, keys...)
	for range MaxReadHeads {
		resp.Heads = append(resp.Heads, BucketHead{Bucket: MaxBuckets - 1, Head: h, QC: qc, SettleMillis: uint64(MaxWait.Milliseconds())})
	}
	b, err := SignResponse(wk, resp)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the largest read answer: %d bytes of %d", len(b), MaxMessage)
	if len(b) > MaxMessage {
		t.Fatalf("the largest read answer is %d bytes, over the %d-byte limit", len(b), MaxMessage)
	}
	if _, err := OpenResponse(b, wk.Public().(ed25519.PublicKey), &Request{Op: OpRead, Cluster: resp.Cluster, Nonce: resp.Nonce}); err != nil {
		t.Fatalf("the largest read answer does not open: %v", err)
	}
}

// The largest valid request (a confirm of the last version with a full
// certificate and witness set) fits MaxRequest, and opens.
func TestTheLargestRequestFitsItsLimit(t *testing.T) {
	ck := testKey(1)
	var keys []ed25519.PrivateKey
	var set [][]byte
	for i := range MaxWitnesses {
		keys = append(keys, testKey(byte(10+i)))
		set = append(set, keys[i].Public().(ed25519.PublicKey))
	}
	cluster := ck.Public().(ed25519.PublicKey)
	h := Head{Version: math.MaxInt64, Digest: bytes.Repeat([]byte{0xff}, DigestLen)}
	r := &Request{Op: OpConfirm, Cluster: cluster, Holder: make([]byte, HolderLen), Nonce: make([]byte, NonceLen),
		Since: math.MaxUint64, LeaseMillis: math.MaxUint64, Limit: math.MaxUint32, Bucket: MaxBuckets - 1,
		From: &h, To: &h, QC: certificate(cluster, MaxBuckets-1, h, keys...), Witnesses: set, Quorum: MaxWitnesses}
	b, err := SignRequest(ck, r)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the largest request: %d bytes of %d", len(b), MaxRequest)
	if len(b) > MaxRequest {
		t.Fatalf("the largest request is %d bytes, over the %d-byte limit", len(b), MaxRequest)
	}
	r.From = nil
	if b, err = SignRequest(ck, r); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenRequest(b); err != nil {
		t.Fatalf("the largest confirm does not open: %v", err)
	}
}
