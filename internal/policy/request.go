package policy

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
	"github.com/niomon/niomon/internal/wire"
)

// Methods a stamped request can name.
const (
	MethodCreate       = "create"        // a new wallet with its first credentials
	MethodImport       = "import"        // the same, from an encrypted mnemonic
	MethodSign         = "sign"          // needs RightSign
	MethodExport       = "export"        // needs RightExport
	MethodUpdatePolicy = "update_policy" // needs RightPolicy
)

// Limits on a request.
const (
	MaxRequest        = 256 << 10
	MinNonce          = 16
	MaxNonce          = 64
	MaxStampSig       = 1024
	MaxAuthData       = 1024
	MaxClientDataJSON = 4096
)

// Request is what a user's credential signs. Its bytes are deterministic
// CBOR (RFC 8949 §4.2.1): the enclave decodes them strictly and requires
// that they re-encode to themselves, so one request has one encoding and a
// stamp covers exactly what runs.
//
// Every field is bound: the method and oid say what and where, Params
// carries the operation in full, Cluster names the enclave cluster (a
// stamp for a test cluster does not work on production), Time bounds the
// request's life, and Nonce makes it unique.
type Request struct {
	Method  string          `cbor:"method"`
	OID     string          `cbor:"oid"`
	Params  cbor.RawMessage `cbor:"params"`
	Cluster []byte          `cbor:"cluster"`
	Time    int64           `cbor:"ts"` // Unix milliseconds
	Nonce   []byte          `cbor:"nonce"`
}

// ErrRequest reports a request that is not well-formed.
var ErrRequest = errors.New("policy: malformed request")

// Encode returns the canonical bytes of r with params encoded from p.
func Encode(method, oid string, params any, cluster []byte, timeMillis int64, nonce []byte) ([]byte, error) {
	pb, err := wire.Marshal(params)
	if err != nil {
		return nil, err
	}
	return wire.Marshal(Request{Method: method, OID: oid, Params: pb, Cluster: cluster, Time: timeMillis, Nonce: nonce})
}

// Decode parses request bytes strictly, checks they are canonical, and
// decodes the params into params (a pointer to the method's struct).
func Decode(b []byte, params any) (*Request, error) {
	if len(b) > MaxRequest {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrRequest, MaxRequest)
	}
	var r Request
	if err := wire.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRequest, err)
	}
	if err := wire.Unmarshal(r.Params, params); err != nil {
		return nil, fmt.Errorf("%w: params: %v", ErrRequest, err)
	}
	pb, err := wire.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("%w: params: %v", ErrRequest, err)
	}
	again, err := wire.Marshal(Request{Method: r.Method, OID: r.OID, Params: pb, Cluster: r.Cluster, Time: r.Time, Nonce: r.Nonce})
	if err != nil || !bytes.Equal(again, b) {
		return nil, fmt.Errorf("%w: not in canonical form", ErrRequest)
	}
	if len(r.Nonce) < MinNonce || len(r.Nonce) > MaxNonce {
		return nil, fmt.Errorf("%w: nonce must be %d..%d bytes", ErrRequest, MinNonce, MaxNonce)
	}
	return &r, nil
}

// Hash is SHA-256 of the request bytes: the WebAuthn challenge, and what
// audit records name a request by.
func Hash(b []byte) [32]byte { return sha256.Sum256(b) }

// CreateParams create a wallet. Credentials[0] must stamp the request:
// proof that whoever asks holds the key they enrol.
type CreateParams struct {
	Words       int          `cbor:"words"`
	Attributes  [][]string   `cbor:"attributes"`
	PolicyID    string       `cbor:"policy_id"`
	Credentials []Credential `cbor:"credentials"`
}

// ImportParams create a wallet from a mnemonic HPKE-encrypted to the
// enclave's import key KeyID (see system_import_key). Like create, the
// first credential stamps the request.
type ImportParams struct {
	KeyID       []byte       `cbor:"key_id"`
	Enc         []byte       `cbor:"enc"`
	Ciphertext  []byte       `cbor:"ciphertext"`
	Attributes  [][]string   `cbor:"attributes"`
	PolicyID    string       `cbor:"policy_id"`
	Credentials []Credential `cbor:"credentials"`
}

// SignParams ask for one signature. Which fields apply depends on Scheme;
// the enclave rejects a field the scheme does not use.
type SignParams struct {
	Scheme     string          `cbor:"scheme"`
	Path       string          `cbor:"path"`
	Digest     []byte          `cbor:"digest,omitempty"`      // 32 bytes: secp256k1, btc_*, p256
	Message    []byte          `cbor:"message,omitempty"`     // eth_personal_sign, ed25519, cosmos, bls
	TypedData  string          `cbor:"typed_data,omitempty"`  // eth_typed_data_v4: the JSON
	Tx         cbor.RawMessage `cbor:"tx,omitempty"`          // eth_transaction
	MerkleRoot []byte          `cbor:"merkle_root,omitempty"` // btc_schnorr: taproot script tree root
}

// ExportParams ask for the wallet's mnemonic, HPKE-encrypted to Recipient,
// an uncompressed P-256 public key made on the user's device.
type ExportParams struct {
	Recipient []byte `cbor:"recipient"`
}

// UpdatePolicyParams change the policy. Version is the wallet version the
// change was written against: a change to a wallet that has moved on is
// refused.
type UpdatePolicyParams struct {
	Version uint64 `cbor:"version"`
	Change  Change `cbor:"change"`
}

// ImportBinding is the HPKE additional data of an import's ciphertext:
// SHA-256 of the canonical CBOR of everything else the import enrols (the
// wallet id, the import key, the attributes, the policy id and the
// credentials). The ciphertext opens only inside a request that enrols
// exactly what the user's device sealed it for, so an app that relays a
// user's import cannot lift the ciphertext into an import of its own,
// with its own credential, and then export the phrase.
func ImportBinding(oid string, p *ImportParams) ([]byte, error) {
	b, err := wire.Marshal(struct {
		_           struct{} `cbor:",toarray"`
		Context     string
		OID         string
		KeyID       []byte
		Attributes  [][]string
		PolicyID    string
		Credentials []Credential
	}{Context: "niomon/secretd/v2/import-binding", OID: oid, KeyID: p.KeyID, Attributes: p.Attributes, PolicyID: p.PolicyID, Credentials: p.Credentials})
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(b)
	return h[:], nil
}
