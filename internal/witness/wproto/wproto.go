// Package wproto is the protocol between a secretd cluster's enclaves and
// its freshness witnesses: the messages, their signatures, and the limits
// on them. The enclave imports it (it is in the trusted computing base);
// the witness daemon is package witness.
//
// Why witnesses. The runner's store is the operator's disk: it can be
// rolled back, whole or object by object, and an enclave that restarts
// knows nothing of what it had seen. A Nitro enclave has no monotonic
// counter that survives a restart. So the cluster keeps, with k of n
// witnesses fixed at its genesis (independent parties), the head (a
// version and a digest) of each bucket of its wallet index. A write is
// acknowledged once k witnesses hold its new head; an enclave serves a
// bucket only at the newest head that n-k+1 witnesses show it, within a
// lease the witnesses record, and a writer waits until every other
// enclave's lease has run out before it acknowledges a change. A store
// rolled back is then always older than the witnesses' heads, and
// refused. The witnesses see bucket numbers, versions and digests, never
// a wallet, a key or an oid.
//
// Every request is signed by the cluster's witness key (derived from its
// master key, so only its enclaves hold it) and every answer by the
// witness's key (pinned at genesis). The runner relays both and can
// delay or drop them, nothing more.
package wproto

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"time"

	"github.com/niomon/niomon/internal/wire"
)

// Operations.
const (
	// OpRead returns the heads changed since an epoch, and records a read
	// lease for the holder.
	OpRead = "read"
	// OpAdvance moves one bucket's head from From to To (To.Version =
	// From.Version+1); with no From it sets the head forward to To (To
	// not older than the head held), which an enclave does only for a
	// head a quorum holds, or to bring a lagging witness up to one.
	OpAdvance = "advance"
)

// Statuses of a response.
const (
	StatusOK       = "ok"
	StatusConflict = "conflict" // Heads holds the bucket's head as it is
)

// Limits.
const (
	MaxMessage = 1 << 20
	MaxBuckets = 1 << 16
	NonceLen   = 16
	HolderLen  = 16
	DigestLen  = 32
	MaxLease   = 10 * time.Second
	// MaxWait bounds the wait a witness reports: a lease, or, after the
	// witness restarted, the horizon it had stored (a lease further).
	MaxWait     = 2 * MaxLease
	maxResponse = MaxMessage
)

// Contexts of the two signatures.
const (
	requestContext  = "niomon/secretd/v2/witness-request\x00"
	responseContext = "niomon/secretd/v2/witness-response\x00"
)

// Head is a bucket's version and the digest of its content at that
// version. Version 0 (an empty bucket) has no digest.
type Head struct {
	Version uint64 `cbor:"1,keyasint"`
	Digest  []byte `cbor:"2,keyasint,omitempty"`
}

// Equal reports whether h and o are the same head.
func (h Head) Equal(o Head) bool { return h.Version == o.Version && bytes.Equal(h.Digest, o.Digest) }

// BucketHead is one bucket's head.
type BucketHead struct {
	Bucket uint32 `cbor:"1,keyasint"`
	Head   Head   `cbor:"2,keyasint"`
}

// Request is what an enclave asks a witness.
type Request struct {
	Op          string `cbor:"1,keyasint"`
	Cluster     []byte `cbor:"2,keyasint"` // the cluster's witness key (Ed25519 public)
	Holder      []byte `cbor:"3,keyasint"` // the asking enclave (random per boot)
	Nonce       []byte `cbor:"4,keyasint"`
	Since       uint64 `cbor:"5,keyasint,omitempty"` // read
	LeaseMillis uint64 `cbor:"6,keyasint,omitempty"` // read
	Bucket      uint32 `cbor:"7,keyasint,omitempty"` // advance
	From        *Head  `cbor:"8,keyasint,omitempty"` // advance
	To          *Head  `cbor:"9,keyasint,omitempty"` // advance
}

// Response is a witness's answer.
type Response struct {
	Op      string       `cbor:"1,keyasint"`
	Witness []byte       `cbor:"2,keyasint"`
	Cluster []byte       `cbor:"3,keyasint"`
	Nonce   []byte       `cbor:"4,keyasint"`
	Status  string       `cbor:"5,keyasint"`
	Epoch   uint64       `cbor:"6,keyasint"`           // the cluster's change count at this witness
	Heads   []BucketHead `cbor:"7,keyasint,omitempty"` // read: those changed since; advance: the bucket's
	// LeaseMillis is the read lease granted; WaitMillis, for an advance,
	// how long the read leases of other holders still run.
	LeaseMillis uint64 `cbor:"8,keyasint,omitempty"`
	WaitMillis  uint64 `cbor:"9,keyasint,omitempty"`
}

// Signed is a message and its signature.
type Signed struct {
	Message   []byte `cbor:"1,keyasint"`
	Signature []byte `cbor:"2,keyasint"`
}

// ErrInvalid reports a message that does not verify or is malformed.
var ErrInvalid = errors.New("wproto: invalid message")

func validHead(h *Head) bool {
	return h != nil && (h.Version == 0) == (h.Digest == nil) && (h.Digest == nil || len(h.Digest) == DigestLen)
}

// SignRequest encodes and signs r with the cluster's witness key.
func SignRequest(k ed25519.PrivateKey, r *Request) ([]byte, error) {
	b, err := wire.Marshal(r)
	if err != nil {
		return nil, err
	}
	return wire.Marshal(Signed{Message: b, Signature: ed25519.Sign(k, append([]byte(requestContext), b...))})
}

// OpenRequest decodes a signed request and checks it: signed by the key it
// names, well formed for its op. It runs on the witness.
func OpenRequest(b []byte) (*Request, error) {
	if len(b) > MaxMessage {
		return nil, ErrInvalid
	}
	var s Signed
	var r Request
	if err := wire.Unmarshal(b, &s); err != nil || wire.Unmarshal(s.Message, &r) != nil {
		return nil, ErrInvalid
	}
	if len(r.Cluster) != ed25519.PublicKeySize || !ed25519.Verify(r.Cluster, append([]byte(requestContext), s.Message...), s.Signature) {
		return nil, ErrInvalid
	}
	if len(r.Holder) != HolderLen || len(r.Nonce) != NonceLen {
		return nil, ErrInvalid
	}
	switch r.Op {
	case OpRead:
		if r.From != nil || r.To != nil || r.LeaseMillis > uint64(MaxLease.Milliseconds()) {
			return nil, ErrInvalid
		}
	case OpAdvance:
		if r.Bucket >= MaxBuckets || !validHead(r.To) || (r.From != nil && (!validHead(r.From) || r.To.Version != r.From.Version+1)) {
			return nil, ErrInvalid
		}
	default:
		return nil, ErrInvalid
	}
	return &r, nil
}

// SignResponse encodes and signs r with the witness's key.
func SignResponse(k ed25519.PrivateKey, r *Response) ([]byte, error) {
	b, err := wire.Marshal(r)
	if err != nil {
		return nil, err
	}
	return wire.Marshal(Signed{Message: b, Signature: ed25519.Sign(k, append([]byte(responseContext), b...))})
}

// OpenResponse checks a witness's answer to req: signed by witness, for
// the same op, cluster and nonce, with heads that are well formed. It runs
// in the enclave.
func OpenResponse(b []byte, witness ed25519.PublicKey, req *Request) (*Response, error) {
	if len(b) > maxResponse {
		return nil, ErrInvalid
	}
	var s Signed
	var r Response
	if err := wire.Unmarshal(b, &s); err != nil || wire.Unmarshal(s.Message, &r) != nil {
		return nil, ErrInvalid
	}
	if len(witness) != ed25519.PublicKeySize || !ed25519.Verify(witness, append([]byte(responseContext), s.Message...), s.Signature) {
		return nil, ErrInvalid
	}
	if r.Op != req.Op || !bytes.Equal(r.Witness, witness) || !bytes.Equal(r.Cluster, req.Cluster) || !bytes.Equal(r.Nonce, req.Nonce) {
		return nil, ErrInvalid
	}
	if r.Status != StatusOK && r.Status != StatusConflict {
		return nil, ErrInvalid
	}
	for i := range r.Heads {
		if r.Heads[i].Bucket >= MaxBuckets || !validHead(&r.Heads[i].Head) {
			return nil, ErrInvalid
		}
	}
	if r.LeaseMillis > uint64(MaxLease.Milliseconds()) || r.WaitMillis > uint64(MaxWait.Milliseconds()) {
		return nil, ErrInvalid
	}
	return &r, nil
}
