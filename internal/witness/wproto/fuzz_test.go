package wproto

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/niomon/niomon/internal/wire"
)

var (
	fuzzCluster = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	fuzzWitness = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
)

// FuzzOpenRequest feeds the witness what anyone on the network could send.
// Whatever opens is signed by the cluster it names and re-signs to bytes
// that open to the same request.
func FuzzOpenRequest(f *testing.F) {
	to := Head{Version: 1, Digest: bytes.Repeat([]byte{3}, DigestLen)}
	for _, r := range []*Request{
		{Op: OpRead, LeaseMillis: 6000},
		{Op: OpAdvance, Bucket: 7, From: &Head{}, To: &to},
		{Op: OpConfirm, Bucket: 9, To: &to, Witnesses: [][]byte{fuzzWitness.Public().(ed25519.PublicKey)}, Quorum: 1,
			QC: []Endorsement{{Witness: fuzzWitness.Public().(ed25519.PublicKey), Signature: Acknowledge(fuzzWitness, fuzzCluster.Public().(ed25519.PublicKey), 9, to)}}},
	} {
		r.Cluster, r.Holder, r.Nonce = fuzzCluster.Public().(ed25519.PublicKey), make([]byte, HolderLen), make([]byte, NonceLen)
		b, err := SignRequest(fuzzCluster, r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := OpenRequest(b)
		if err != nil {
			return
		}
		var s Signed
		if err := wire.Unmarshal(b, &s); err != nil || !ed25519.Verify(r.Cluster, append([]byte(requestContext), s.Message...), s.Signature) {
			t.Fatal("opened a request its cluster did not sign")
		}
		again, err := wire.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var r2 Request
		if err := wire.Unmarshal(again, &r2); err != nil || r2.Op != r.Op || r2.Bucket != r.Bucket {
			t.Fatal("the request does not round-trip")
		}
	})
}

// FuzzOpenResponse feeds the enclave what a runner could relay as a
// witness's answer: only the witness's signed answer to this request
// opens.
func FuzzOpenResponse(f *testing.F) {
	req := &Request{Op: OpRead, Cluster: fuzzCluster.Public().(ed25519.PublicKey), Holder: make([]byte, HolderLen), Nonce: bytes.Repeat([]byte{5}, NonceLen)}
	good := &Response{Op: OpRead, Witness: fuzzWitness.Public().(ed25519.PublicKey), Cluster: req.Cluster, Nonce: req.Nonce, Status: StatusOK, Epoch: 3,
		Heads: []BucketHead{{Bucket: 1, Head: Head{Version: 2, Digest: bytes.Repeat([]byte{4}, DigestLen)}}}}
	b, err := SignResponse(fuzzWitness, good)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := OpenResponse(b, fuzzWitness.Public().(ed25519.PublicKey), req)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Nonce, req.Nonce) || !bytes.Equal(r.Witness, fuzzWitness.Public().(ed25519.PublicKey)) {
			t.Fatal("opened an answer to another request or from another witness")
		}
	})
}
