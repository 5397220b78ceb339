package enclave

import (
	"context"
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/rand"
	"errors"

	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/hd"
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

// stamped is a request that passed its stamp check, and so took its
// nonce.
type stamped struct {
	bytes []byte
	req   *policy.Request
	cred  *policy.Credential
}

// settle gives a request's nonce back if the request failed before it had
// any effect (*effect false), so that its user can send the same stamped
// request again: a passkey need not be touched twice for a storage
// hiccup. A request that had an effect keeps its nonce spent. Deferred by
// every method that checks a stamp.
func (e *Enclave) settle(s *stamped, err *error, effect *bool) {
	if s != nil && *err != nil && !*effect {
		e.replay.Release(s.req.Nonce)
	}
}

// authErr maps a stamp refusal to what the client is told: the fixed
// reason, under one code.
func authErr(err error) error {
	switch {
	case errors.Is(err, policy.ErrRequest), errors.Is(err, policy.ErrInvalid):
		return &wire.RPCError{Code: wire.CodeInvalidParams, Message: err.Error()}
	case errors.Is(err, policy.ErrBusy), errors.Is(err, policy.ErrWalletBusy):
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
//
// The nonce counts against owner's share of the replay cache: the wallet
// instance (or, for a wallet being made, its oid).
func (e *Enclave) check(sp *stampedParams, r *policy.Request, p *policy.Policy, right string, owner []byte) (*stamped, error) {
	c, err := policy.Check(sp.Request, r, &sp.Stamp, p, right, e.identity.Public().Bytes(), e.cfg.Now(), e.replay, owner)
	if err != nil {
		return nil, authErr(err)
	}
	return &stamped{bytes: sp.Request, req: r, cred: c}, nil
}

// authorizeUser decodes a stamped request for an existing wallet and checks
// it against the policy of one snapshot of the wallet, which it returns
// (held: the caller releases it) for the method to take the keys from.
// fresh loads the snapshot from the store rather than the cache.
func (e *Enclave) authorizeUser(ctx context.Context, req wire.Request, method, right string, params any, fresh bool) (*stamped, *snapshot, error) {
	sp, r, err := decodeStamped(req, method, params)
	if err != nil {
		return nil, nil, err
	}
	ws := walletStore{e}
	var snap *snapshot
	if fresh {
		snap, err = ws.fresh(ctx, r.OID)
	} else {
		snap, err = ws.cached(ctx, r.OID)
	}
	if err != nil {
		return nil, nil, err
	}
	s, err := e.check(sp, r, snap.policy, right, snap.instance[:])
	if err != nil {
		snap.release()
		return nil, nil, err
	}
	return s, snap, nil
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
	s, err := e.check(sp, r, p, "", []byte("new\x00"+r.OID))
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

// receipt signs the policy state of snapshot s.
func (e *Enclave) receipt(s *snapshot, requestHash []byte) (*policy.SignedReceipt, error) {
	return e.signer.receipt(&policy.Receipt{
		OID: s.oid, Instance: s.instance[:], Version: s.version, Credentials: s.policy.Credentials, Cluster: e.identity.Public().Bytes(),
		Request: requestHash, IssuedAt: e.cfg.Now().Unix(),
	})
}

// hdwalletCreate([request, stamp]) → receipt. The request is a "create"
// with policy.CreateParams.
func (e *Enclave) hdwalletCreate(ctx context.Context, peer wire.Peer, req wire.Request) (_ any, err error) {
	var p policy.CreateParams
	pol, s, err := e.decodeNew(req, policy.MethodCreate, &p, &p.Attributes, &p.PolicyID, &p.Credentials)
	if err != nil {
		return nil, err
	}
	var effect bool
	defer e.settle(s, &err, &effect)
	m, err := hd.GenerateMnemonic(p.Words)
	if err != nil {
		return nil, invalid("words must be 12, 15, 18, 21 or 24")
	}
	defer m.Wipe()
	return e.storeNew(ctx, peer, s, m, p.Attributes, p.PolicyID, pol, false, &effect)
}

// storeNew stores a created or imported wallet, records the event and
// answers with the receipt.
// *effect is set once the wallet is stored.
func (e *Enclave) storeNew(ctx context.Context, peer wire.Peer, s *stamped, m *hd.Mnemonic, attrs [][]string, policyID string, pol *policy.Policy, imported bool, effect *bool) (any, error) {
	snap, err := walletStore{e}.create(ctx, &newWallet{creator: peer.Key, oid: s.req.OID, mnemonic: m, attrs: attrs, policyID: policyID, policy: *pol, imported: imported})
	if err != nil {
		return nil, err
	}
	*effect = true
	defer snap.release()
	e.audit(ctx, s, snap)
	h := policy.Hash(s.bytes)
	return e.receipt(snap, h[:])
}

// hdwalletImport([request, stamp]) → receipt: a wallet from a mnemonic
// that the user's device HPKE-encrypted to an import key of this cluster
// (system_import_key), so the phrase crosses the app and the runner only
// as ciphertext.
func (e *Enclave) hdwalletImport(ctx context.Context, peer wire.Peer, req wire.Request) (_ any, err error) {
	var p policy.ImportParams
	pol, s, err := e.decodeNew(req, policy.MethodImport, &p, &p.Attributes, &p.PolicyID, &p.Credentials)
	if err != nil {
		return nil, err
	}
	var effect bool
	defer e.settle(s, &err, &effect)
	phrase, err := e.openImport(s.req.OID, &p)
	if err != nil {
		return nil, err
	}
	defer clear(phrase)
	m, err := hd.ParseMnemonic(string(phrase))
	if err != nil {
		return nil, invalid("the decrypted mnemonic is not a valid English BIP39 mnemonic")
	}
	defer m.Wipe()
	return e.storeNew(ctx, peer, s, m, p.Attributes, p.PolicyID, pol, true, &effect)
}

// HPKE suite for export and import: what a browser can open and seal with
// WebCrypto's P-256 ECDH, HKDF-SHA256 and AES-256-GCM (RFC 9180
// DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM).
var (
	hpkeKEM  = hpke.DHKEM(ecdh.P256())
	hpkeKDF  = hpke.HKDFSHA256()
	hpkeAEAD = hpke.AES256GCM()
)

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

// openImport opens the mnemonic of an import of oid: sealed to the
// import key p names, for the wallet oid (HPKE info), and for exactly
// this request's credentials and settings (additional data).
func (e *Enclave) openImport(oid string, p *policy.ImportParams) ([]byte, error) {
	k, err := e.importKey(p.KeyID)
	if err != nil {
		return nil, err
	}
	if len(p.Ciphertext) > maxImportCiphertext {
		return nil, invalid("ciphertext too long for a mnemonic")
	}
	ad, err := policy.ImportBinding(oid, p)
	if err != nil {
		return nil, err
	}
	rcpt, err := hpke.NewRecipient(p.Enc, k, hpkeKDF, hpkeAEAD, api.ImportInfo(oid))
	if err != nil {
		return nil, invalid("enc is not a P-256 HPKE encapsulation")
	}
	pt, err := rcpt.Open(ad, p.Ciphertext)
	if err != nil {
		return nil, invalid("the mnemonic does not decrypt with this import key for this request (it was sealed for another wallet id or other credentials)")
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
	return api.ImportKey{KeyID: id, PublicKey: pub, Signature: e.signer.importKey(id, pub)}, nil
}

// hdwalletExport([request, stamp]) → ExportResult: the mnemonic, HPKE
// sealed to the device key in the request (info binds the oid and the
// wallet instance, the additional data the request's hash). It leaves
// nowhere else in plaintext, and an audit event is stored before it
// leaves at all. The stamp is checked against the policy of the very
// snapshot whose mnemonic is exported, loaded fresh from the store.
func (e *Enclave) hdwalletExport(ctx context.Context, _ wire.Peer, req wire.Request) (_ any, err error) {
	var p policy.ExportParams
	s, snap, err := e.authorizeUser(ctx, req, policy.MethodExport, policy.RightExport, &p, true)
	if err != nil {
		return nil, err
	}
	defer snap.release()
	var effect bool // the audit event is stored
	defer e.settle(s, &err, &effect)
	pub, err := ecdh.P256().NewPublicKey(p.Recipient)
	if err != nil {
		return nil, invalid("recipient must be an uncompressed P-256 public key")
	}
	hpub, err := hpke.NewDHKEMPublicKey(pub)
	if err != nil {
		return nil, invalid("recipient must be an uncompressed P-256 public key")
	}
	m, err := hd.MnemonicFromEntropy(snap.entropy)
	if err != nil {
		return nil, err
	}
	defer m.Wipe()
	if err := e.auditStrict(ctx, s, snap); err != nil {
		return nil, err
	}
	effect = true
	enc, sender, err := hpke.NewSender(hpub, hpkeKDF, hpkeAEAD, api.ExportInfo(snap.oid, snap.instance[:]))
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
	return api.ExportResult{Enc: enc, Ciphertext: ct, Instance: snap.instance[:]}, nil
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
func (e *Enclave) hdwalletUpdatePolicy(ctx context.Context, _ wire.Peer, req wire.Request) (_ any, err error) {
	var p policy.UpdatePolicyParams
	var proofs []policy.Stamp
	var sp *stampedParams
	var r *policy.Request
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
	// fresh (a cached copy could be older than a change made elsewhere),
	// and the change is applied to that same snapshot.
	snap, err := walletStore{e}.fresh(ctx, r.OID)
	if err != nil {
		return nil, err
	}
	defer snap.release()
	s, err := e.check(sp, r, snap.policy, policy.RightPolicy, snap.instance[:])
	if err != nil {
		return nil, err
	}
	var effect bool // the new version is stored
	defer e.settle(s, &err, &effect)
	if p.Version != snap.version {
		return nil, errChanged
	}
	next, err := snap.policy.Apply(p.Change, e.cfg.Now().Unix())
	if err != nil {
		return nil, authErr(err)
	}
	if err := policy.VerifyProofs(sp.Request, p.Change.Add, proofs); err != nil {
		return nil, authErr(err)
	}
	ns, err := walletStore{e}.update(ctx, snap, next)
	if err != nil {
		return nil, err
	}
	effect = true
	defer ns.release()
	e.audit(ctx, s, ns)
	h := policy.Hash(s.bytes)
	return e.receipt(ns, h[:])
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
	snap, err := walletStore{e}.cached(ctx, p.OID)
	if err != nil {
		return nil, err
	}
	defer snap.release()
	if !snap.creator.Equal(peer.Key) {
		return nil, errNotYours
	}
	return e.receipt(snap, nil)
}
