package enclave

import (
	"context"
	"encoding/hex"
	"errors"
	"unicode/utf8"

	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/hd"
	"github.com/niomon/niomon/internal/hostlink"
	"github.com/niomon/niomon/internal/wire"
)

// method handles one RPC method. Errors of type *wire.RPCError reach the
// client as they are; any other error is logged here and the client sees
// a fixed "internal error".
type method func(ctx context.Context, peer wire.Peer, req wire.Request) (any, error)

func (e *Enclave) methodTable() map[string]method {
	m := map[string]method{
		"hdwallet_generate_with_policy":    e.hdwalletGenerateWithPolicy,
		"hdwallet_get_extended_public_key": e.hdwalletGetExtendedPublicKey,
		"hdwallet_get_address":             e.hdwalletGetAddress,
		"hdwallet_get_policy":              e.hdwalletGetPolicy,
		"hdwallet_create":                  e.hdwalletCreate,
		"hdwallet_import":                  e.hdwalletImport,
		"hdwallet_sign":                    e.hdwalletSign,
		"hdwallet_export":                  e.hdwalletExport,
		"hdwallet_update_policy":           e.hdwalletUpdatePolicy,
		"system_attest":                    e.systemAttest,
		"system_info":                      e.systemInfo,
		"system_import_key":                e.systemImportKey,
		"system_join":                      e.systemJoin,
		"system_drk_rotate":                e.systemDRKRotate,
		"system_ping":                      e.systemPing,
	}
	if e.cfg.AllowPlaintextImport {
		m["hdwallet_import_with_policy"] = e.hdwalletImportWithPolicy
	}
	return m
}

func invalid(msg string) error { return &wire.RPCError{Code: wire.CodeInvalidParams, Message: msg} }

var (
	errNotFound = &wire.RPCError{Code: wire.CodeNotFound, Message: "wallet not found"}
	errExists   = &wire.RPCError{Code: wire.CodeExists, Message: "wallet already exists"}
	errStorage  = &wire.RPCError{Code: wire.CodeUnavailable, Message: "storage unavailable"}
	errBusy     = &wire.RPCError{Code: wire.CodeUnavailable, Message: "the enclave is busy; retry shortly"}
)

// storageErr maps a host-link error to what the client is told.
func storageErr(err error) error {
	switch {
	case errors.Is(err, hostlink.ErrNotFound):
		return errNotFound
	case errors.Is(err, hostlink.ErrExists):
		return errExists
	case errors.Is(err, hostlink.ErrUnavailable):
		return errStorage
	}
	return err
}

func validOID(oid string) error {
	if oid == "" || len(oid) > maxOIDLen || !utf8.ValidString(oid) {
		return invalid("oid must be 1..200 bytes of UTF-8")
	}
	for _, r := range oid {
		if r < 0x20 || r == 0x7f {
			return invalid("oid must not contain control characters")
		}
	}
	return nil
}

func validAttributes(attrs [][]string) error {
	if len(attrs) > maxAttributes {
		return invalid("at most 32 attributes")
	}
	seen := make(map[string]bool, len(attrs))
	for _, kv := range attrs {
		if len(kv) != 2 {
			return invalid("each attribute must be a [key, value] pair")
		}
		if kv[0] == "" || len(kv[0]) > maxAttrKeyLen || len(kv[1]) > maxAttrValueLen {
			return invalid("attribute keys must be 1..64 bytes and values at most 1024 bytes")
		}
		if seen[kv[0]] {
			return invalid("duplicate attribute key")
		}
		seen[kv[0]] = true
	}
	return nil
}

type generateParams struct {
	_          struct{} `cbor:",toarray"`
	OID        string
	Words      int
	Attributes [][]string
	PolicyID   string
}

// hdwalletGenerateWithPolicy(oid, mnemonic_words, attributes, policy_id) →
// oid. A new BIP39 mnemonic is made here and leaves only sealed. An oid
// that exists is an error, never an overwrite.
//
// This is the published protocol's app-only creation: the wallet gets no
// user credential, so its public keys can be read but no key can ever be
// used, and no credential can be added (adding needs a credential with
// the policy right). Wallets whose keys users use are made with
// hdwallet_create, which enrols the user's first credential.
func (e *Enclave) hdwalletGenerateWithPolicy(ctx context.Context, peer wire.Peer, req wire.Request) (any, error) {
	var p generateParams
	if err := wire.DecodeParams(req.Params, &p); err != nil {
		return nil, invalid("want [oid text, mnemonic_words int, attributes [[key, value]...], policy_id text]")
	}
	if err := e.validWalletParams(p.OID, p.Attributes, p.PolicyID); err != nil {
		return nil, err
	}
	m, err := hd.GenerateMnemonic(p.Words)
	if err != nil {
		return nil, invalid("mnemonic_words must be 12, 15, 18, 21 or 24")
	}
	defer m.Wipe()
	snap, err := walletStore{e}.create(ctx, &newWallet{creator: peer.Key, oid: p.OID, mnemonic: m, attrs: p.Attributes, policyID: p.PolicyID})
	if err != nil {
		return nil, err
	}
	snap.release()
	return p.OID, nil
}

type importParams struct {
	_          struct{} `cbor:",toarray"`
	OID        string
	Mnemonic   string
	Attributes [][]string
	PolicyID   string
}

// hdwalletImportWithPolicy(oid, mnemonic, attributes, policy_id) → oid.
// Dev only (Config.AllowPlaintextImport): the mnemonic crosses the Noise
// session in plaintext. The encrypted import path replaces it in
// production.
func (e *Enclave) hdwalletImportWithPolicy(ctx context.Context, peer wire.Peer, req wire.Request) (any, error) {
	var p importParams
	if err := wire.DecodeParams(req.Params, &p); err != nil {
		return nil, invalid("want [oid text, mnemonic text, attributes [[key, value]...], policy_id text]")
	}
	defer func() { p.Mnemonic = "" }()
	if err := e.validWalletParams(p.OID, p.Attributes, p.PolicyID); err != nil {
		return nil, err
	}
	if len(p.Mnemonic) > maxMnemonicBytes {
		return nil, invalid("mnemonic too long")
	}
	m, err := hd.ParseMnemonic(p.Mnemonic)
	if err != nil {
		// hd's error text never holds a word of the phrase, but the
		// client gets a fixed message anyway.
		return nil, invalid("not a valid English BIP39 mnemonic")
	}
	defer m.Wipe()
	snap, err := walletStore{e}.create(ctx, &newWallet{creator: peer.Key, oid: p.OID, mnemonic: m, attrs: p.Attributes, policyID: p.PolicyID, imported: true})
	if err != nil {
		return nil, err
	}
	snap.release()
	return p.OID, nil
}

func (e *Enclave) validWalletParams(oid string, attrs [][]string, policyID string) error {
	if err := validOID(oid); err != nil {
		return err
	}
	if err := validAttributes(attrs); err != nil {
		return err
	}
	if len(policyID) > maxPolicyIDLen {
		return invalid("policy_id must be at most 128 bytes")
	}
	return nil
}

type xpubParams struct {
	_    struct{} `cbor:",toarray"`
	OID  string
	Path string
}

// ExtendedPublicKey is the result of hdwallet_get_extended_public_key: a
// map with exactly these two keys, as the published client decodes it.
type ExtendedPublicKey struct {
	PublicKey         string `cbor:"PublicKey"`         // hex, 33-byte compressed SEC1
	ExtendedPublicKey string `cbor:"ExtendedPublicKey"` // BIP32 xpub…
}

// hdwalletGetExtendedPublicKey(oid, derive_path) → {PublicKey,
// ExtendedPublicKey} for the secp256k1 (BIP32) key at derive_path.
func (e *Enclave) hdwalletGetExtendedPublicKey(ctx context.Context, peer wire.Peer, req wire.Request) (any, error) {
	var p xpubParams
	if err := wire.DecodeParams(req.Params, &p); err != nil {
		return nil, invalid("want [oid text, derive_path text]")
	}
	if err := validOID(p.OID); err != nil {
		return nil, err
	}
	path, err := hd.ParsePath(p.Path)
	if err != nil {
		return nil, invalid("derive_path must be a BIP32 path such as m/44'/60'/0'/0/0")
	}
	snap, err := walletStore{e}.cached(ctx, p.OID)
	if err != nil {
		return nil, err
	}
	defer snap.release()
	if !snap.creator.Equal(peer.Key) {
		return nil, errNotYours
	}
	n, err := e.cache.node(snap, hd.Secp256k1, path)
	if errors.Is(err, hd.ErrInvalidChild) {
		return nil, invalid("this path has an invalid BIP32 child; use the next index")
	} else if err != nil {
		return nil, storageErr(err)
	}
	defer n.Wipe()
	xpub, err := n.ExtendedPublicKey()
	if err != nil {
		return nil, err
	}
	return ExtendedPublicKey{PublicKey: hex.EncodeToString(n.PublicKey()), ExtendedPublicKey: xpub}, nil
}

type attestParams struct {
	_     struct{} `cbor:",toarray"`
	Nonce []byte
}

// systemAttest(nonce bytes) → attestation document whose public key is the
// cluster identity and whose user data is AttestedKeys (the receipt key
// and the current DRK), so a client can check the enclave before it pins
// them.
func (e *Enclave) systemAttest(ctx context.Context, _ wire.Peer, req wire.Request) (any, error) {
	var p attestParams
	if err := wire.DecodeParams(req.Params, &p); err != nil || len(p.Nonce) > maxNonceLen {
		return nil, invalid("want [nonce bytes] with at most 512 bytes")
	}
	c, err := e.currentCluster(ctx)
	if err != nil {
		return nil, storageErr(err)
	}
	ud, err := wire.Marshal(api.AttestedKeys{ReceiptKey: e.signer.public(), DRK: c.transcript.DRKFingerprint, Transcript: c.trHash[:]})
	if err != nil {
		return nil, err
	}
	return e.cfg.Attester.Attest(p.Nonce, ud, e.identity.Public().Bytes())
}

// systemInfo() → Info: the cluster's public keys and DRK, unattested. A
// client that checks attestation takes them from the document instead.
func (e *Enclave) systemInfo(ctx context.Context, _ wire.Peer, req wire.Request) (any, error) {
	var p noParams
	if err := wire.DecodeParams(req.Params, &p); err != nil {
		return nil, invalid("want []")
	}
	c, err := e.currentCluster(ctx)
	if err != nil {
		return nil, storageErr(err)
	}
	return api.Info{ClusterIdentity: e.identity.Public().Bytes(), ReceiptKey: e.signer.public(), DRK: c.transcript.DRKFingerprint, Transcript: c.trHash[:]}, nil
}

type noParams struct {
	_ struct{} `cbor:",toarray"`
}

// systemPing() → "pong": a liveness check for connection pools, and the
// baseline of the protocol's own overhead in benchmarks.
func (e *Enclave) systemPing(_ context.Context, _ wire.Peer, req wire.Request) (any, error) {
	var p noParams
	if err := wire.DecodeParams(req.Params, &p); err != nil {
		return nil, invalid("want []")
	}
	return "pong", nil
}
