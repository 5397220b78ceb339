// Package hostlink is the channel between a secretd enclave and its
// runner.
//
// The enclave has one listening socket (vsock in Nitro, a Unix socket in
// dev) and nothing else: no disk, no network. The runner opens every
// connection to it and says with the first byte what the connection is:
//
//   - ConnClient: a relayed client connection. The bytes that follow are
//     the client's own Secretd stream; the Noise session ends in the
//     enclave, so the runner relays ciphertext only.
//   - ConnHost: a host link. The runner sends Hello (its configuration),
//     the enclave answers Ready once it has its master key, and from then
//     on the enclave sends storage requests (get, create, update) that the
//     runner answers from its store.
//
// Everything on a host link is untrusted by the enclave: it only ever
// stores and loads sealed blobs that it authenticates itself (package
// seal). Messages are a 4-byte big-endian length and one CBOR map.
//
// This package is the messages and the enclave's end (Link); the runner's
// end is package hostserve, outside the trusted computing base.
package hostlink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/fxamacker/cbor/v2"
)

// Connection kinds: the first byte the runner writes on a new connection.
const (
	ConnClient byte = 'C'
	ConnHost   byte = 'H'
)

// Limits on host-link messages.
const (
	MaxBlob    = 1 << 20
	MaxMessage = MaxBlob + 64<<10
	MaxIDLen   = 256
	// readBuffer is the read buffer of each end: a typical message (a
	// wallet object, about 1.5 KiB) arrives in one read.
	readBuffer = 16 << 10
)

// Message types.
const (
	THello      = 1 // runner → enclave
	TReady      = 2 // enclave → runner
	TRequest    = 3 // enclave → runner
	TResponse   = 4 // runner → enclave
	TRecovering = 5 // enclave → runner: serving recovery under Identity (a temporary key)
	TJoin       = 6 // enclave → runner: Blob is an attestation document to take to a running enclave
	TJoinReply  = 7 // runner → enclave: Blob is that enclave's answer
	TGenesis    = 8 // enclave → runner: the cluster does not exist yet; serving its genesis ceremony under Identity (a temporary key)
)

// Boot modes a runner asks of its enclave.
const (
	ModeNormal  = ""        // load the cluster's master key, or make one for a new cluster
	ModeRecover = "recover" // rebuild the master key from disaster-recovery shares
	ModeJoin    = "join"    // get the master key from a running enclave of the cluster
)

// Storage operations, and the witness relay.
const (
	OpGet     = "get"
	OpCreate  = "create"
	OpUpdate  = "update"
	OpBatch   = "batch"   // Batch: writes applied all or none
	OpWitness = "witness" // Blob: a request for witness number Witness; the answer's Blob is its reply
)

// MaxBatch bounds the writes of one batch (store.MaxBatch).
const MaxBatch = 8

// BatchWrite is one write of a batch: a create, or an update from Prev.
type BatchWrite struct {
	Object *Object `cbor:"1,keyasint"`
	Create bool    `cbor:"2,keyasint,omitempty"`
	Prev   uint64  `cbor:"3,keyasint,omitempty"`
}

// Error codes a runner returns for a storage request.
const (
	ErrCodeNotFound = "not_found"
	ErrCodeExists   = "exists"
	ErrCodeConflict = "conflict"
	ErrCodeInvalid  = "invalid"
	ErrCodeInternal = "internal"
)

// Errors the enclave sees for storage requests.
var (
	ErrNotFound    = errors.New("hostlink: object not found")
	ErrExists      = errors.New("hostlink: object exists")
	ErrConflict    = errors.New("hostlink: version conflict")
	ErrInvalid     = errors.New("hostlink: invalid object")
	ErrUnavailable = errors.New("hostlink: storage unavailable")
)

// CodeOf maps an error to its wire code.
func CodeOf(err error) string {
	switch {
	case errors.Is(err, ErrNotFound):
		return ErrCodeNotFound
	case errors.Is(err, ErrExists):
		return ErrCodeExists
	case errors.Is(err, ErrConflict):
		return ErrCodeConflict
	case errors.Is(err, ErrInvalid):
		return ErrCodeInvalid
	default:
		return ErrCodeInternal
	}
}

func errOf(code string) error {
	switch code {
	case "":
		return nil
	case ErrCodeNotFound:
		return ErrNotFound
	case ErrCodeExists:
		return ErrExists
	case ErrCodeConflict:
		return ErrConflict
	case ErrCodeInvalid:
		return ErrInvalid
	default:
		return ErrUnavailable
	}
}

// Object is a sealed object as stored by the runner.
type Object struct {
	Kind    string `cbor:"1,keyasint"`
	ID      string `cbor:"2,keyasint"`
	Version uint64 `cbor:"3,keyasint"`
	Blob    []byte `cbor:"4,keyasint"`
}

// Hello is the runner's configuration for the enclave.
type Hello struct {
	// ClientKeys is the allow-list of static_key clients (X25519 public
	// keys). The operator controls it: an app key may create wallets and
	// read public keys, never use a key (that needs the user's own
	// credential), so the allow-list is not what protects keys.
	ClientKeys [][]byte `cbor:"1,keyasint"`
	// DevSealingKey is the dev-mode key that seals the master key. A
	// Nitro enclave refuses a Hello that carries one.
	DevSealingKey []byte `cbor:"2,keyasint,omitempty"`
	// Mode is ModeNormal, ModeRecover or ModeJoin.
	Mode string `cbor:"3,keyasint,omitempty"`
}

// Message is one host-link message. Which fields are set depends on Type.
type Message struct {
	Type     uint8        `cbor:"1,keyasint"`
	ID       uint64       `cbor:"2,keyasint,omitempty"`
	Op       string       `cbor:"3,keyasint,omitempty"`
	Object   *Object      `cbor:"4,keyasint,omitempty"`
	Prev     uint64       `cbor:"5,keyasint,omitempty"`
	Err      string       `cbor:"6,keyasint,omitempty"`
	Hello    *Hello       `cbor:"7,keyasint,omitempty"`
	Identity []byte       `cbor:"8,keyasint,omitempty"`
	Blob     []byte       `cbor:"9,keyasint,omitempty"`
	Batch    []BatchWrite `cbor:"10,keyasint,omitempty"`
	Witness  int          `cbor:"11,keyasint,omitempty"`
}

var (
	encMode, _ = cbor.CoreDetEncOptions().EncMode()
	decMode, _ = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   8,
		MaxArrayElements:  4096,
		MaxMapPairs:       32,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
)

// WriteMessage writes one message with a single Write.
func WriteMessage(w io.Writer, m *Message) error {
	body, err := encMode.Marshal(m)
	if err != nil {
		return err
	}
	if len(body) > MaxMessage {
		return fmt.Errorf("hostlink: message of %d bytes exceeds %d", len(body), MaxMessage)
	}
	buf := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(body)), uint32(len(body)))
	_, err = w.Write(append(buf, body...))
	return err
}

// ReadMessage reads one message, strictly decoded and size-limited.
func ReadMessage(r io.Reader) (*Message, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxMessage {
		return nil, fmt.Errorf("hostlink: message of %d bytes exceeds %d", n, MaxMessage)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	m := new(Message)
	if err := decMode.Unmarshal(body, m); err != nil {
		return nil, fmt.Errorf("hostlink: malformed message: %w", err)
	}
	return m, nil
}

// ValidObject checks an object's shape before it is stored or sent.
func ValidObject(o *Object) error {
	switch {
	case o == nil:
		return fmt.Errorf("%w: missing object", ErrInvalid)
	case o.Kind == "" || len(o.Kind) > 32:
		return fmt.Errorf("%w: kind must be 1..32 bytes", ErrInvalid)
	case o.ID == "" || len(o.ID) > MaxIDLen:
		return fmt.Errorf("%w: id must be 1..%d bytes", ErrInvalid, MaxIDLen)
	case o.Version == 0:
		return fmt.Errorf("%w: version must be at least 1", ErrInvalid)
	case len(o.Blob) > MaxBlob:
		return fmt.Errorf("%w: blob exceeds %d bytes", ErrInvalid, MaxBlob)
	}
	return nil
}
