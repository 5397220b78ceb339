// Package wproto is the protocol between a secretd cluster's enclaves and
// its freshness witnesses: the messages, their signatures, the quorum
// certificates, and the limits on them. The enclave imports it (it is in
// the trusted computing base); the witness daemon is package witness.
//
// Why witnesses. The runner's store is the operator's disk: it can be
// rolled back, whole or object by object, and an enclave that restarts
// knows nothing of what it had seen. A Nitro enclave has no monotonic
// counter that survives a restart. So the cluster keeps, with n witnesses
// fixed at its genesis (independent parties), the head (a version and a
// digest) of each bucket of its wallet index.
//
// A write is two rounds. Advance: each witness moves its current head from
// the write's base to the new head (a compare-and-swap) and signs an
// acknowledgement of the new head (a write that finds heads of its
// version no quorum took at the witnesses, left by writes that did not
// complete, tries again at a higher ballot). Confirm: with k
// acknowledgements (a
// quorum certificate) the enclave has every witness record the new head as
// committed. A write is acknowledged to the user once k witnesses have
// confirmed it. Reads return committed heads only, each with its
// certificate, which the enclave verifies: a head that k witnesses never
// acknowledged (a write the runner let reach only some of them, a branch
// of the history the operator built with its own wallets) is never
// served, and a witness cannot make one up.
//
// What it tolerates: the reads and the confirmations of a write each come
// from k witnesses, so they share at least 2k-n; the enclave serves the
// newest certified head it reads, so up to 2k-n-1 witnesses may collude
// with the operator (withhold or roll back their state) and n-k may be
// down. Three witnesses with k = 2 tolerate one down and none colluding;
// four with k = 3, one of each.
//
// Every request is signed by the cluster's witness key (derived from its
// master key, so only its enclaves hold it) and every answer and every
// acknowledgement by the witness's key (pinned at genesis). The runner
// relays them and can delay, drop or replay them; none of that moves a
// committed head to one that k witnesses did not acknowledge.
package wproto

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"math"
	"time"

	"github.com/niomon/niomon/internal/wire"
)

// Operations.
const (
	// OpRead returns the committed heads changed since an epoch (at most
	// Limit, in the order they changed), and records a read lease.
	OpRead = "read"
	// OpAdvance moves one bucket's current head to To (the version after
	// From's) and answers with an acknowledgement of To, when To comes
	// after the current head (a newer version, or a higher ballot) and
	// From is the committed head or a newer one the request shows
	// certified (QC, Witnesses, Quorum). A witness thus acknowledges at
	// most one head per version and ballot, in order, none built on a
	// head older than the one it committed, and from then on commits no
	// head before To.
	OpAdvance = "advance"
	// OpConfirm records To as the bucket's committed head, given a quorum
	// certificate for it, if it is newer than the one held; a current head
	// older than To moves to To too (a witness that missed writes).
	OpConfirm = "confirm"
)

// Statuses of a response.
const (
	StatusOK       = "ok"
	StatusConflict = "conflict" // Current and Heads hold the bucket as it is
)

// Limits.
const (
	MaxMessage = 1 << 20
	// MaxRequest bounds a request (the largest, a confirm with a full
	// certificate and witness set, is under 4 KiB): a witness holds no
	// more for a request it has not yet checked.
	MaxRequest   = 16 << 10
	MaxBuckets   = 1 << 16
	MaxWitnesses = 16
	NonceLen     = 16
	HolderLen    = 16
	DigestLen    = 32
	// MaxReadHeads bounds the heads of one read answer (a head with its
	// certificate is about 100 B + 100 B per endorsement).
	MaxReadHeads = 512
	MaxLease     = 10 * time.Second
	// MaxWait bounds the wait a witness reports: a lease, or, after the
	// witness restarted, the horizon it had stored (a lease further).
	MaxWait = 2 * MaxLease
	// MaxBallotStep bounds how far past a witness's current ballot of a
	// version (or past 0, for a version it has no head of) an advance may
	// go: a ballot a colluding witness reported cannot be planted at
	// honest witnesses in one step, and the 2^63 ballots of a version take
	// 2^43 steps to use up.
	MaxBallotStep = 1 << 20
)

// Contexts of the signatures.
const (
	requestContext  = "niomon/secretd/v2/witness-request\x00"
	responseContext = "niomon/secretd/v2/witness-response\x00"
	ackContext      = "niomon/secretd/v2/witness-ack\x00"
)

// Head is a bucket's version and the digest of its content at that
// version. Version 0 (an empty bucket) has no digest.
//
// Ballot orders the attempts at one version: a write that finds heads
// of its version that no quorum took (writes that did not complete)
// tries again at a higher ballot, so that they never block the version.
// Heads are ordered by version, then ballot.
type Head struct {
	Version uint64 `cbor:"1,keyasint"`
	Digest  []byte `cbor:"2,keyasint,omitempty"`
	Ballot  uint64 `cbor:"3,keyasint,omitempty"`
}

// Equal reports whether h and o are the same head.
func (h Head) Equal(o Head) bool {
	return h.Version == o.Version && h.Ballot == o.Ballot && bytes.Equal(h.Digest, o.Digest)
}

// Before reports whether h comes before o: an older version, or the same
// version at a lower ballot.
func (h Head) Before(o Head) bool {
	return h.Version < o.Version || (h.Version == o.Version && h.Ballot < o.Ballot)
}

// Endorsement is one witness's acknowledgement of a head.
type Endorsement struct {
	Witness   []byte `cbor:"1,keyasint"`
	Signature []byte `cbor:"2,keyasint"`
}

// BucketHead is one bucket's committed head and its quorum certificate
// (empty for version 0).
type BucketHead struct {
	Bucket uint32        `cbor:"1,keyasint"`
	Head   Head          `cbor:"2,keyasint"`
	QC     []Endorsement `cbor:"3,keyasint,omitempty"`
	// SettleMillis, in a read answer: how long until every read lease the
	// witness granted before it committed this head (except the lease of
	// the enclave that had it committed) has run out. From then on no
	// enclave that read this witness serves an older head of the bucket.
	SettleMillis uint64 `cbor:"4,keyasint,omitempty"`
}

// Request is what an enclave asks a witness.
type Request struct {
	Op          string `cbor:"1,keyasint"`
	Cluster     []byte `cbor:"2,keyasint"` // the cluster's witness key (Ed25519 public)
	Holder      []byte `cbor:"3,keyasint"` // the asking enclave (random per boot)
	Nonce       []byte `cbor:"4,keyasint"`
	Since       uint64 `cbor:"5,keyasint,omitempty"` // read
	LeaseMillis uint64 `cbor:"6,keyasint,omitempty"` // read
	Limit       uint32 `cbor:"7,keyasint,omitempty"` // read: at most this many heads (≤ MaxReadHeads)
	Bucket      uint32 `cbor:"8,keyasint,omitempty"` // advance, confirm
	From        *Head  `cbor:"9,keyasint,omitempty"` // advance
	To          *Head  `cbor:"10,keyasint,omitempty"`
	// Confirm: the certificate, and the cluster's witnesses and quorum
	// (as its genesis fixed them) to check it against.
	QC        []Endorsement `cbor:"11,keyasint,omitempty"`
	Witnesses [][]byte      `cbor:"12,keyasint,omitempty"`
	Quorum    uint32        `cbor:"13,keyasint,omitempty"`
}

// Response is a witness's answer.
type Response struct {
	Op      string       `cbor:"1,keyasint"`
	Witness []byte       `cbor:"2,keyasint"`
	Cluster []byte       `cbor:"3,keyasint"`
	Nonce   []byte       `cbor:"4,keyasint"`
	Status  string       `cbor:"5,keyasint"`
	Epoch   uint64       `cbor:"6,keyasint"`           // read: the epoch of the last head returned
	More    bool         `cbor:"7,keyasint,omitempty"` // read: more heads changed after Epoch
	Heads   []BucketHead `cbor:"8,keyasint,omitempty"` // read: committed heads; advance, confirm: the bucket's
	Current *Head        `cbor:"9,keyasint,omitempty"` // advance, confirm: the bucket's current head
	Ack     []byte       `cbor:"10,keyasint,omitempty"`
	// LeaseMillis is the read lease granted; WaitMillis, for a confirm,
	// how long the read leases of other holders still run.
	LeaseMillis uint64 `cbor:"11,keyasint,omitempty"`
	WaitMillis  uint64 `cbor:"12,keyasint,omitempty"`
}

// Signed is a message and its signature.
type Signed struct {
	Message   []byte `cbor:"1,keyasint"`
	Signature []byte `cbor:"2,keyasint"`
}

// ErrInvalid reports a message that does not verify or is malformed.
var ErrInvalid = errors.New("wproto: invalid message")

// validHead: versions fit a signed 64-bit integer (as stores and
// witnesses keep them).
func validHead(h *Head) bool {
	return h != nil && h.Version <= math.MaxInt64 && h.Ballot <= math.MaxInt64 && (h.Version == 0) == (h.Digest == nil) &&
		(h.Version > 0 || h.Ballot == 0) && (h.Digest == nil || len(h.Digest) == DigestLen)
}

// AckMessage is what a witness signs to acknowledge head h of a bucket.
func AckMessage(cluster []byte, bucket uint32, h Head) []byte {
	b, _ := wire.Marshal([]any{cluster, bucket, h.Version, h.Ballot, h.Digest})
	return append([]byte(ackContext), b...)
}

// Acknowledge signs an acknowledgement of h with a witness's key.
func Acknowledge(k ed25519.PrivateKey, cluster []byte, bucket uint32, h Head) []byte {
	return ed25519.Sign(k, AckMessage(cluster, bucket, h))
}

// VerifyQC reports whether qc is a quorum certificate of h: at least
// quorum entries, each a valid acknowledgement of h by a witness of
// witnesses, no witness twice, nothing else (an entry that is not exactly
// that fails the whole certificate, so a certificate is never larger than
// the witness set). Version 0 needs none.
func VerifyQC(cluster []byte, bucket uint32, h Head, qc []Endorsement, witnesses [][]byte, quorum int) bool {
	if h.Version == 0 {
		return len(qc) == 0
	}
	if quorum < 1 || len(qc) < quorum || len(qc) > len(witnesses) || len(witnesses) > MaxWitnesses {
		return false
	}
	msg := AckMessage(cluster, bucket, h)
	seen := make(map[string]bool, len(qc))
	for _, e := range qc {
		if seen[string(e.Witness)] || len(e.Witness) != ed25519.PublicKeySize || len(e.Signature) != ed25519.SignatureSize {
			return false
		}
		member := false
		for _, w := range witnesses {
			member = member || bytes.Equal(w, e.Witness)
		}
		if !member || !ed25519.Verify(e.Witness, msg, e.Signature) {
			return false
		}
		seen[string(e.Witness)] = true
	}
	return true
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
	if len(b) > MaxRequest {
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
		if r.From != nil || r.To != nil || r.LeaseMillis > uint64(MaxLease.Milliseconds()) || r.Limit > MaxReadHeads {
			return nil, ErrInvalid
		}
	case OpAdvance:
		if r.Bucket >= MaxBuckets || !validHead(r.To) || !validHead(r.From) || r.To.Version != r.From.Version+1 {
			return nil, ErrInvalid
		}
	case OpConfirm:
		if r.Bucket >= MaxBuckets || !validHead(r.To) || r.From != nil || len(r.Witnesses) == 0 || len(r.Witnesses) > MaxWitnesses ||
			r.Quorum == 0 || int(r.Quorum) > len(r.Witnesses) {
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
// in the enclave, which checks each head's certificate itself.
func OpenResponse(b []byte, witness ed25519.PublicKey, req *Request) (*Response, error) {
	if len(b) > MaxMessage {
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
	if len(r.Heads) > MaxReadHeads || (r.Current != nil && !validHead(r.Current)) {
		return nil, ErrInvalid
	}
	for i := range r.Heads {
		if r.Heads[i].Bucket >= MaxBuckets || !validHead(&r.Heads[i].Head) || len(r.Heads[i].QC) > MaxWitnesses ||
			r.Heads[i].SettleMillis > uint64(MaxWait.Milliseconds()) {
			return nil, ErrInvalid
		}
	}
	if r.LeaseMillis > uint64(MaxLease.Milliseconds()) || r.WaitMillis > uint64(MaxWait.Milliseconds()) {
		return nil, ErrInvalid
	}
	return &r, nil
}
