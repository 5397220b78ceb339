package policy

// Receipt is the enclave's statement of a wallet's policy after a create,
// import or policy change, signed by the cluster's receipt key (an Ed25519
// key derived from the master key, published in the attestation document
// of system_attest). The user's device checks that it lists exactly what
// it enrolled, and warns about any credential it did not.
type Receipt struct {
	OID         string       `cbor:"oid"`
	Instance    []byte       `cbor:"instance"` // the wallet instance (16 bytes): fixed at creation, never the same for two wallets
	Version     uint64       `cbor:"version"`  // the wallet's version: it grows with each policy change
	Credentials []Credential `cbor:"credentials"`
	Cluster     []byte       `cbor:"cluster"`
	Request     []byte       `cbor:"request"` // SHA-256 of the request that made this state
	IssuedAt    int64        `cbor:"issued_at"`
}

// SignedReceipt carries a receipt's exact bytes and their signature.
type SignedReceipt struct {
	Receipt   []byte `cbor:"receipt"`
	Signature []byte `cbor:"signature"`
}

// ReceiptContext prefixes the bytes a receipt signature covers; it
// separates receipts from anything else the receipt key signs. The
// enclave signs receipts; clients verify them (secretd.VerifyReceipt).
const ReceiptContext = "niomon/secretd/v1/receipt\x00"
