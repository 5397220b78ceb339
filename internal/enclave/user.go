package enclave

import (
	"context"
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/rand"
	"errors"

	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/hd"
	"github.com/niomon/niomon/internal/hostlink"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/wire"
)

// The methods here use or change a wallet's keys. Each takes
// [request bytes, stamp]: a policy.Request signed by one of the user's
// credentials. The app that relays it adds nothing the enclave trusts.

type stampedParams struct {
	_       struct{} `cbor:",toarray"`
	Request []byte
	Stamp   policy.Stamp
}

// stamped is a request that passed its stamp check.
type stamped struct {
	bytes []byte
	req   *policy.Request
	cred  *policy.Credential
}

// authErr maps a stamp refusal to what the client is told: the fixed
// reason, under one code.
func authErr(err error) error {
	switch {
	case errors.Is(err, policy.ErrRequest), errors.Is(err, policy.ErrInvalid):
		return &wire.RPCError{Code: wire.CodeInvalidParams, Message: err.Error()}
	case errors.Is(err, policy.ErrBusy):
		return &wire.RPCError{Code: wire.CodeUnavailable, Message: err.Error()}
	case errors.Is(err, policy.ErrUnknownCredential), errors.Is(err, policy.ErrNoRight),
		errors.Is(err, policy.ErrExpired), errors.Is(err, policy.ErrBadSignature),
		errors.Is(err, policy.ErrStale), errors.Is(err, policy.ErrReplay), errors.Is(err, policy.ErrWrongCluster),
		errors.Is(err, policy.ErrNoProof):
		return &wire.RPCError{Code: wire.CodeUnauthorized, Message: err.Error()}
	}
	return err
}

// decodeStamped decodes the [request, stamp] params of req into a
// policy.Request for method, with its params in params.
func decodeStamped(req wire.Request, method string, params any) (*stampedParams, *policy.Request, error) {
	var sp stampedParams
	if err := wire.DecodeParams(req.Params, &sp); err != nil {
		return nil, nil, invalid("want [request bytes, stamp]")
	}
	return decodeRequest(&sp, method, params)
}

// decodeRequest decodes sp's request for method, with its params in params.
func decodeRequest(sp *stampedParams, method string, params any) (*stampedParams, *policy.Request, error) {
	r, err := policy.Decode(sp.Request, params)
	if err != nil {
		return nil, nil, authErr(err)
	}
	if r.Method != method {
		return nil, nil, invalid("the request's method does not match the RPC method")
	}
	if err := validOID(r.OID); err != nil {
		return nil, nil, err
	}
	return sp, r, nil
}

// check verifies the stamp of a decoded request against p for right.
func (e *Enclave) check(sp *stampedParams, r *policy.Request, p *policy.Policy, right string) (*stamped, error) {
	c, err := policy.Check(sp.Request, r, &sp.Stamp, p, right, e.identity.Public().Bytes(), e.cfg.Now(), e.replay)
	if err != nil {
		return nil, authErr(err)
	}
	return &stamped{bytes: sp.Request, req: r, cred: c}, nil
}

// authorizeUser decodes a stamped request for an existing wallet and checks it
// against the wallet's current policy.
func (e *Enclave) authorizeUser(ctx context.Context, req wire.Request, method, right string, params any) (*stamped, walletView, error) {
	sp, r, err := decodeStamped(req, method, params)
	if err != nil {
		return nil, walletView{}, err
	}
	v, err := e.cache.view(r.OID, e.filler(ctx, r.OID))
	if err != nil {
		return nil, walletView{}, storageErr(err)
	}
	s, err := e.check(sp, r, v.policy, right)
	return s, v, err
}

// firstPolicy checks the credentials a new wallet comes with: exactly
// one, which stamps the request (proof of possession), and which can
// manage the policy.
func (e *Enclave) firstPolicy(sp *stampedParams, r *policy.Request, creds []policy.Credential) (*policy.Policy, *stamped, error) {
	if len(creds) != 1 {
		return nil, nil, invalid("a new wallet comes with exactly one credential, which stamps the request")
	}
	p := &policy.Policy{Credentials: creds}
	if err := p.Validate(); err != nil {
		return nil, nil, authErr(err)
	}
	if !creds[0].Has(policy.RightPolicy) {
		return nil, nil, invalid("the first credential must hold the policy right")
	}
	s, err := e.check(sp, r, p, "")
	if err != nil {
		return nil, nil, err
	}
	return p, s, nil
}

// decodeNew decodes a create or import request into params, whose
// attributes, policy id and credentials the pointers reach, and checks
// its first credential's stamp.
func (e *Enclave) decodeNew(req wire.Request, method string, params any, attrs *[][]string, policyID *string, creds *[]policy.Credential) (*policy.Policy, *stamped, error) {
	sp, r, err := decodeStamped(req, method, params)
	if err != nil {
		return nil, nil, err
	}
	if err := e.validWalletParams(r.OID, *attrs, *policyID); err != nil {
		return nil, nil, err
	}
	return e.firstPolicy(sp, r, *creds)
}

// receipt signs the policy state of oid at version.
func (e *Enclave) receipt(oid string, version uint64, p *policy.Policy, requestHash []byte) (*policy.SignedReceipt, error) {
	return policy.SignReceipt(e.receiptKey, &policy.Receipt{
		OID: oid, Version: version, Credentials: p.Credentials, Cluster: e.identity.Public().Bytes(),
		Request: requestHash, IssuedAt: e.cfg.Now().Unix(),
	})
}

// hdwalletCreate([request, stamp]) → receipt. The request is a "create"
// with policy.CreateParams.
func (e *Enclave) hdwalletCreate(ctx context.Context, peer wire.Peer, req wire.Request) (any, error) {
	var p policy.CreateParams
	pol, s, err := e.decodeNew(req, policy.MethodCreate, &p, &p.Attributes, &p.PolicyID, &p.Credentials)
	if err != nil {
		return nil, err
	}
	m, err := hd.GenerateMnemonic(p.Words)
	if err != nil {
		return nil, invalid("words must be 12, 15, 18, 21 or 24")
	}
	defer m.Wipe()
	return e.newWallet(ctx, peer, s, m, p.Attributes, p.PolicyID, pol, false)
}

// newWallet stores a created or imported wallet, records the event and
// answers with the receipt.
func (e *Enclave) newWallet(ctx context.Context, peer wire.Peer, s *stamped, m *hd.Mnemonic, attrs [][]string, policyID string, pol *policy.Policy, imported bool) (any, error) {
	if err := e.createWallet(ctx, peer.Key, s.req.OID, m, attrs, policyID, *pol, imported); err != nil {
		return nil, err
	}
	e.audit(ctx, s, walletVersion)
	h := policy.Hash(s.bytes)
	return e.receipt(s.req.OID, walletVersion, pol, h[:])
}

// hdwalletImport([request, stamp]) → receipt: a wallet from a mnemonic
// that the user's device HPKE-encrypted to an import key of this cluster
// (system_import_key), so the phrase crosses the app and the runner only
// as ciphertext.
func (e *Enclave) hdwalletImport(ctx context.Context, peer wire.Peer, req wire.Request) (any, error) {
	var p policy.ImportParams
	pol, s, err := e.decodeNew(req, policy.MethodImport, &p, &p.Attributes, &p.PolicyID, &p.Credentials)
	if err != nil {
		return nil, err
	}
	phrase, err := e.openImport(p.KeyID, p.Enc, p.Ciphertext, s.req.OID)
	if err != nil {
		return nil, err
	}
	defer clear(phrase)
	m, err := hd.ParseMnemonic(string(phrase))
	if err != nil {
		return nil, invalid("the decrypted mnemonic is not a valid English BIP39 mnemonic")
	}
	defer m.Wipe()
	return e.newWallet(ctx, peer, s, m, p.Attributes, p.PolicyID, pol, true)
}

// HPKE suite for export and import: what a browser can open and seal with
// WebCrypto's P-256 ECDH, HKDF-SHA256 and AES-256-GCM (RFC 9180
// DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM).
var (
	hpkeKEM  = hpke.DHKEM(ecdh.P256())
	hpkeKDF  = hpke.HKDFSHA256()
	hpkeAEAD = hpke.AES256GCM()
)

// HPKE info strings bind a ciphertext to its purpose and wallet.
func exportInfo(oid string) []byte { return []byte("niomon/secretd/v1/export\x00" + oid) }
func importInfo(oid string) []byte { return []byte("niomon/secretd/v1/import\x00" + oid) }

const importKeyIDLen = 16

// importKey derives the HPKE key pair named id (RFC 9180 DeriveKeyPair).
func (e *Enclave) importKey(id []byte) (hpke.PrivateKey, error) {
	if len(id) != importKeyIDLen {
		return nil, invalid("key_id must be 16 bytes")
	}
	ikm, err := e.importRoot.KeyMaterial(id)
	if err != nil {
		return nil, err
	}
	defer clear(ikm)
	return hpkeKEM.DeriveKeyPair(ikm)
}

func (e *Enclave) openImport(id, enc, ct []byte, oid string) ([]byte, error) {
	k, err := e.importKey(id)
	if err != nil {
		return nil, err
	}
	if len(ct) > 1024 {
		return nil, invalid("ciphertext too long for a mnemonic")
	}
	rcpt, err := hpke.NewRecipient(enc, k, hpkeKDF, hpkeAEAD, importInfo(oid))
	if err != nil {
		return nil, invalid("enc is not a P-256 HPKE encapsulation")
	}
	pt, err := rcpt.Open(nil, ct)
	if err != nil {
		return nil, invalid("the mnemonic does not decrypt with this import key for this oid")
	}
	return pt, nil
}

// systemImportKey() → ImportKey.
func (e *Enclave) systemImportKey(_ context.Context, _ wire.Peer, req wire.Request) (any, error) {
	var p noParams
	if err := wire.DecodeParams(req.Params, &p); err != nil {
		return nil, invalid("want []")
	}
	id := make([]byte, importKeyIDLen)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	k, err := e.importKey(id)
	if err != nil {
		return nil, err
	}
	pub := k.PublicKey().Bytes()
	msg := append(append([]byte(api.ImportKeyContext), id...), pub...)
	return api.ImportKey{KeyID: id, PublicKey: pub, Signature: signEd25519(e.receiptKey, msg)}, nil
}

// hdwalletExport([request, stamp]) → ExportResult: the mnemonic, HPKE
// sealed to the device key in the request (info binds the oid, the
// additional data binds the request's hash). It leaves nowhere else in
// plaintext, and an audit event is stored before it leaves at all.
func (e *Enclave) hdwalletExport(ctx context.Context, _ wire.Peer, req wire.Request) (any, error) {
	var p policy.ExportParams
	s, _, err := e.authorizeUser(ctx, req, policy.MethodExport, policy.RightExport, &p)
	if err != nil {
		return nil, err
	}
	pub, err := ecdh.P256().NewPublicKey(p.Recipient)
	if err != nil {
		return nil, invalid("recipient must be an uncompressed P-256 public key")
	}
	hpub, err := hpke.NewDHKEMPublicKey(pub)
	if err != nil {
		return nil, invalid("recipient must be an uncompressed P-256 public key")
	}
	rec, version, err := e.readWallet(ctx, s.req.OID)
	if err != nil {
		return nil, storageErr(err)
	}
	defer rec.wipe()
	m, err := hd.MnemonicFromEntropy(rec.Entropy)
	if err != nil {
		return nil, err
	}
	defer m.Wipe()
	if err := e.auditStrict(ctx, s, version); err != nil {
		return nil, err
	}
	enc, sender, err := hpke.NewSender(hpub, hpkeKDF, hpkeAEAD, exportInfo(s.req.OID))
	if err != nil {
		return nil, err
	}
	phrase := []byte(m.Phrase())
	defer clear(phrase)
	h := policy.Hash(s.bytes)
	ct, err := sender.Seal(h[:], phrase)
	if err != nil {
		return nil, err
	}
	return api.ExportResult{Enc: enc, Ciphertext: ct}, nil
}

// updateParams are hdwallet_update_policy's params when the change adds
// credentials: each added credential's own stamp of the same request.
type updateParams struct {
	_       struct{} `cbor:",toarray"`
	Request []byte
	Stamp   policy.Stamp
	Proofs  []policy.Stamp
}

// hdwalletUpdatePolicy([request, stamp] or [request, stamp, proofs]) →
// receipt. Every credential the change adds must have stamped the
// request too (proofs): a key is listed only with its holder. The stored
// wallet is re-sealed at the next version with a compare-and-swap on the
// version the request names, so two concurrent changes cannot both apply.
func (e *Enclave) hdwalletUpdatePolicy(ctx context.Context, _ wire.Peer, req wire.Request) (any, error) {
	var p policy.UpdatePolicyParams
	var proofs []policy.Stamp
	var sp *stampedParams
	var r *policy.Request
	var err error
	if up := (updateParams{}); wire.DecodeParams(req.Params, &up) == nil {
		proofs = up.Proofs
		sp, r, err = decodeRequest(&stampedParams{Request: up.Request, Stamp: up.Stamp}, policy.MethodUpdatePolicy, &p)
	} else {
		sp, r, err = decodeStamped(req, policy.MethodUpdatePolicy, &p)
	}
	if err != nil {
		return nil, err
	}
	// The policy that authorises the change is the stored one, read
	// fresh: a cached copy could be older than a change made elsewhere.
	rec, version, err := e.readWallet(ctx, r.OID)
	if err != nil {
		return nil, storageErr(err)
	}
	defer rec.wipe()
	s, err := e.check(sp, r, &rec.Policy, policy.RightPolicy)
	if err != nil {
		return nil, err
	}
	if p.Version != version {
		return nil, &wire.RPCError{Code: wire.CodeConflict, Message: "the wallet changed since this request was written"}
	}
	next, err := rec.Policy.Apply(p.Change, e.cfg.Now().Unix())
	if err != nil {
		return nil, authErr(err)
	}
	if err := policy.VerifyProofs(sp.Request, p.Change.Add, proofs); err != nil {
		return nil, authErr(err)
	}
	rec.Policy = *next
	obj, err := e.sealWallet(r.OID, version+1, rec)
	if err != nil {
		return nil, err
	}
	l, err := e.link()
	if err != nil {
		return nil, storageErr(err)
	}
	if err := l.Update(ctx, obj, version); err != nil {
		if errors.Is(err, hostlink.ErrConflict) {
			return nil, &wire.RPCError{Code: wire.CodeConflict, Message: "the wallet changed since this request was written"}
		}
		return nil, storageErr(err)
	}
	e.cache.forget(r.OID)
	e.audit(ctx, s, version+1)
	h := policy.Hash(s.bytes)
	return e.receipt(r.OID, version+1, next, h[:])
}

type oidParams struct {
	_   struct{} `cbor:",toarray"`
	OID string
}

// hdwalletGetPolicy(oid) → receipt of the current policy, for a device
// to compare with what it enrolled. Reading it needs no credential.
func (e *Enclave) hdwalletGetPolicy(ctx context.Context, peer wire.Peer, req wire.Request) (any, error) {
	var p oidParams
	if err := wire.DecodeParams(req.Params, &p); err != nil {
		return nil, invalid("want [oid text]")
	}
	if err := validOID(p.OID); err != nil {
		return nil, err
	}
	v, err := e.cache.view(p.OID, e.filler(ctx, p.OID))
	if err != nil {
		return nil, storageErr(err)
	}
	if !v.creator.Equal(peer.Key) {
		return nil, errNotYours
	}
	return e.receipt(p.OID, v.version, v.policy, nil)
}
