// Package api holds the shapes of secretd's RPC results and the constants
// both ends of the protocol share: the enclave fills them, the Go client
// decodes them. Types only; no behaviour.
package api

// Signing schemes of hdwallet_sign. Each names its curve, the request
// fields it reads, and what it returns. The enclave builds the bytes it
// signs itself wherever a format exists (EIP-191, EIP-712, transactions),
// so what is signed is what the request says, and a policy can judge it.
const (
	SchemeSecp256k1    = "secp256k1"         // digest → r‖s‖v (v = 0/1), RFC 6979, low-s
	SchemeEthPersonal  = "eth_personal_sign" // message → EIP-191 signature (v = 27/28)
	SchemeEthTypedData = "eth_typed_data_v4" // typed_data JSON → EIP-712 signature (v = 27/28)
	SchemeEthTx        = "eth_transaction"   // tx → signed raw transaction and hash
	SchemeBTCECDSA     = "btc_ecdsa"         // digest (sighash) → DER
	SchemeBTCTaproot   = "btc_taproot"       // digest → BIP340 with the BIP341 key tweak (key-path spend)
	SchemeBTCSchnorr   = "btc_schnorr"       // digest → plain BIP340
	SchemeCosmos       = "cosmos"            // message (sign bytes) → r‖s over SHA-256
	SchemeEd25519      = "ed25519"           // message → ed25519 (Solana transactions)
	SchemeBLS          = "bls"               // message → BLS12-381 (EIP-2333 key, PoP ciphersuite)
	SchemeP256         = "p256"              // digest → ECDSA P-256, DER
)

// SignResult is the result of hdwallet_sign.
type SignResult struct {
	Signature []byte `cbor:"signature"`
	PublicKey []byte `cbor:"public_key"`
	Instance  []byte `cbor:"instance"`          // the wallet instance whose key signed
	Digest    []byte `cbor:"digest,omitempty"`  // what was signed, when the enclave computed it
	RawTx     []byte `cbor:"raw_tx,omitempty"`  // eth_transaction
	TxHash    []byte `cbor:"tx_hash,omitempty"` // eth_transaction
}

// Address is the result of hdwallet_get_address.
type Address struct {
	Address   string `cbor:"Address"`
	PublicKey string `cbor:"PublicKey"` // hex
	// Statement is the AddressStatement (CBOR) of this answer, and
	// Signature the receipt key's Ed25519 signature over AddressContext ‖
	// Statement.
	Statement []byte `cbor:"Statement,omitempty"`
	Signature []byte `cbor:"Signature,omitempty"`
}

// AddressStatement says which address a wallet has at a path: what a
// device checks before it shows an address as the user's.
type AddressStatement struct {
	OID       string `cbor:"oid"`
	Instance  []byte `cbor:"instance"` // the wallet instance (16 bytes), fixed at creation
	Scheme    string `cbor:"scheme"`
	Path      string `cbor:"path"`
	HRP       string `cbor:"hrp"` // as asked; "" is bc for the btc kinds
	Address   string `cbor:"address"`
	PublicKey string `cbor:"public_key"` // hex
}

// AddressContext prefixes what an address statement's signature covers.
const AddressContext = "niomon/secretd/v1/address\x00"

// Address kinds of hdwallet_get_address.
const (
	AddrEth     = "eth"        // EIP-55
	AddrP2WPKH  = "btc_p2wpkh" // bech32, hrp bc/tb/bcrt (default bc)
	AddrP2TR    = "btc_p2tr"   // bech32m, BIP86 key-path output
	AddrCosmos  = "cosmos"     // bech32 with the given hrp
	AddrSolana  = "solana"     // base58 ed25519 key
	AddrBLS     = "bls"        // the 48-byte public key in hex
	AddrP256    = "p256"       // the SPKI DER public key in hex
	AddrSecp256 = "secp256k1"  // the compressed public key in hex
)

// ImportKey is the result of system_import_key: an HPKE public key for one
// import, signed by the cluster's receipt key so a device that pinned the
// receipt key (from the attestation document) knows it is the enclave's.
type ImportKey struct {
	KeyID     []byte `cbor:"key_id"`
	PublicKey []byte `cbor:"public_key"` // uncompressed P-256
	Signature []byte `cbor:"signature"`  // Ed25519 over ImportKeyContext ‖ key_id ‖ public_key
}

// ImportKeyContext prefixes what an import key's signature covers.
const ImportKeyContext = "niomon/secretd/v1/import-key\x00"

// ExportResult is the result of hdwallet_export.
type ExportResult struct {
	Enc        []byte `cbor:"enc"`
	Ciphertext []byte `cbor:"ciphertext"`
	Instance   []byte `cbor:"instance"` // the wallet instance exported; bound into the HPKE info
}

// ExportInfo is the HPKE info of an export: it binds the ciphertext to the
// wallet instance it came from.
func ExportInfo(oid string, instance []byte) []byte {
	return append([]byte("niomon/secretd/v2/export\x00"+oid+"\x00"), instance...)
}

// ImportInfo is the HPKE info of an import: it binds the ciphertext to the
// wallet id. The additional data (policy.ImportBinding) binds it to the
// rest of the request.
func ImportInfo(oid string) []byte { return []byte("niomon/secretd/v2/import\x00" + oid) }

// AttestedKeys is the user_data of the enclave's attestation documents:
// the cluster's other public keys and its Disaster Recovery Key, bound to
// the measured enclave.
type AttestedKeys struct {
	ReceiptKey []byte `cbor:"receipt_key"` // Ed25519: receipts, import keys, audit events
	// DRK is the fingerprint (SHA-256) of the cluster's current DRK public
	// key, and Transcript the SHA-256 of the transcript that made it (the
	// genesis or the last rotation): holders and auditors compare them
	// with the transcript they hold.
	DRK        []byte `cbor:"drk"`
	Transcript []byte `cbor:"transcript"`
}

// Info is the result of system_info.
type Info struct {
	ClusterIdentity []byte `cbor:"cluster_identity"`
	ReceiptKey      []byte `cbor:"receipt_key"`
	DRK             []byte `cbor:"drk"`        // fingerprint of the current DRK
	Transcript      []byte `cbor:"transcript"` // SHA-256 of its transcript
}

// AuditEvent is one audit record.
type AuditEvent struct {
	Time       int64  `cbor:"time"` // Unix milliseconds
	OID        string `cbor:"oid"`
	Instance   []byte `cbor:"instance"`
	Method     string `cbor:"method"`
	Credential []byte `cbor:"credential"`
	Request    []byte `cbor:"request"` // SHA-256 of the request bytes
	Version    uint64 `cbor:"version"` // wallet version after (or, for export, at) the event
}

// SignedAuditEvent is the stored form.
type SignedAuditEvent struct {
	Event     []byte `cbor:"event"`
	Signature []byte `cbor:"signature"` // Ed25519 by the receipt key over AuditContext ‖ event
}

// AuditContext prefixes what an audit event's signature covers.
const AuditContext = "niomon/secretd/v1/audit\x00"

// EscrowContext prefixes what a DRK escrow record's signature covers.
const EscrowContext = "niomon/secretd/v1/escrow\x00"

// HolderSpec is a DRK share holder as a genesis or a rotation names them:
// the age recipient their share is encrypted to, and the Ed25519 key they
// approve ceremonies with (derived from their age identity, see
// drk.HolderSigningKey).
type HolderSpec struct {
	Name       string `cbor:"name"`
	Recipient  string `cbor:"recipient"`
	SigningKey []byte `cbor:"signing_key"`
}

// WitnessSpec is a freshness witness fixed at genesis: an independent
// party's Ed25519 key.
type WitnessSpec struct {
	Name string `cbor:"name"`
	Key  []byte `cbor:"key"`
}

// Statement kinds, and the contexts approvals sign them under.
const (
	KindGenesis     = "genesis"
	KindDRKRotation = "drk_rotation"

	GenesisContext  = "niomon/secretd/v2/genesis\x00"
	RotationContext = "niomon/secretd/v2/drk-rotation\x00"
)

// GenesisStatement is what every holder approves before a cluster is
// born: the genesis enclave (its attested temporary identity: approvals
// work for that one enclave process, once), the holders and the
// threshold, and the freshness witnesses.
type GenesisStatement struct {
	Kind            string        `cbor:"kind"`
	GenesisIdentity []byte        `cbor:"genesis_identity"`
	Threshold       int           `cbor:"threshold"`
	Holders         []HolderSpec  `cbor:"holders"`
	Witnesses       []WitnessSpec `cbor:"witnesses"`
	WitnessQuorum   int           `cbor:"witness_quorum"`
}

// RotationStatement replaces a cluster's DRK: a quorum of the current
// holders and every new holder approve it. It names the DRK it replaces,
// so an approval works for one rotation only.
type RotationStatement struct {
	Kind            string       `cbor:"kind"`
	ClusterIdentity []byte       `cbor:"cluster_identity"`
	DRK             []byte       `cbor:"drk"` // fingerprint of the DRK replaced
	Threshold       int          `cbor:"threshold"`
	Holders         []HolderSpec `cbor:"holders"`
}

// Approval is a holder's Ed25519 signature over a statement's exact bytes
// (with its kind's context).
type Approval struct {
	Key       []byte `cbor:"key"`
	Signature []byte `cbor:"signature"`
}

// Holder is a DRK share holder as the ceremony transcript lists them.
type Holder struct {
	Index            int    `cbor:"index"`
	Name             string `cbor:"name"`
	Recipient        string `cbor:"recipient"`         // age recipient the share was encrypted to
	SigningKey       []byte `cbor:"signing_key"`       // the key the holder approves with
	ShareFingerprint []byte `cbor:"share_fingerprint"` // SHA-256 of the share: public, identifies it
}

// Transcript is the public record of a DRK ceremony: a genesis or a
// rotation. The statement it ran and its approvals are in it, so anyone
// can check who agreed.
type Transcript struct {
	Kind            string        `cbor:"kind"`
	ClusterIdentity []byte        `cbor:"cluster_identity"`
	KEM             string        `cbor:"kem"`
	DRKFingerprint  []byte        `cbor:"drk_fingerprint"` // SHA-256 of the DRK public key
	Threshold       int           `cbor:"threshold"`
	Count           int           `cbor:"count"`
	Holders         []Holder      `cbor:"holders"`
	Witnesses       []WitnessSpec `cbor:"witnesses"`
	WitnessQuorum   int           `cbor:"witness_quorum"`
	MasterVersion   uint64        `cbor:"master_version"` // the master-key version escrowed
	Statement       []byte        `cbor:"statement"`      // the approved statement's bytes
	Approvals       []Approval    `cbor:"approvals"`
	Previous        []byte        `cbor:"previous"` // rotation: SHA-256 of the transcript before
	Time            int64         `cbor:"time"`     // Unix seconds
}

// GenesisEnclaveTag is the user data of a genesis enclave's attestation
// document, whose public key is its temporary identity.
const GenesisEnclaveTag = "niomon/secretd/v2/genesis-enclave"

// CeremonyResult is the result of system_genesis and system_drk_rotate.
type CeremonyResult struct {
	Transcript  []byte   `cbor:"transcript"`  // CBOR of Transcript
	Attestation []byte   `cbor:"attestation"` // public key = the cluster identity, user data = SHA-256(Transcript)
	Shares      [][]byte `cbor:"shares"`      // age files, in holder order
}

// RecoveryInfo is what a recovering enclave attests to: the user data of
// its system_recovery_attest document.
type RecoveryInfo struct {
	RecoveryKeyHash []byte `cbor:"recovery_key_hash"` // SHA-256 of the HPKE key holders seal their shares to
	DRKFingerprint  []byte `cbor:"drk_fingerprint"`   // of the escrow found in the store
	ClusterIdentity []byte `cbor:"cluster_identity"`  // the identity the escrow claims
	Threshold       int    `cbor:"threshold"`
	Count           int    `cbor:"count"`
}

// RecoveryAttestation is the result of system_recovery_attest: the
// document, and the recovery key it names by hash (a hybrid
// post-quantum key is larger than a document's user data may be).
type RecoveryAttestation struct {
	Document    []byte `cbor:"document"`
	RecoveryKey []byte `cbor:"recovery_key"`
}

// RecoverResult is the result of system_recover.
type RecoverResult struct {
	ClusterIdentity []byte `cbor:"cluster_identity"`
}

// RecoveryContext binds a share submission to one recovering enclave.
func RecoveryContext(recoveryKey []byte) []byte {
	return append([]byte("niomon/secretd/v1/recovery\x00"), recoveryKey...)
}
