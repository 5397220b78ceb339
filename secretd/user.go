package secretd

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/wire"
)

// Types of the user-authorised requests. A wallet's keys are used only
// with a stamp by one of the user's own credentials, made where the
// credential lives (the user's device, or a server-side API key); the app
// relays it.
type (
	Credential    = policy.Credential
	Stamp         = policy.Stamp
	SignParams    = policy.SignParams
	PolicyChange  = policy.Change
	SignResult    = api.SignResult
	Address       = api.Address
	SignedReceipt = policy.SignedReceipt
)

// Credential kinds and rights.
const (
	KindPasskey    = policy.KindPasskey
	KindAPIKey     = policy.KindAPIKey
	KindSessionKey = policy.KindSessionKey
	RightSign      = policy.RightSign
	RightExport    = policy.RightExport
	RightPolicy    = policy.RightPolicy
)

// Stamper signs requests with one credential.
type Stamper interface {
	Credential() Credential
	Stamp(request []byte) (*Stamp, error)
}

// P256Key is an API key or a device session key: a P-256 key whose stamps
// are ECDSA signatures over the request bytes.
type P256Key struct {
	priv *ecdsa.PrivateKey
	cred Credential
}

// NewP256Key makes a key of kind KindAPIKey or KindSessionKey (which must
// expire) holding rights.
func NewP256Key(kind string, expires time.Time, rights ...string) (*P256Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return P256KeyFrom(priv, kind, expires, rights...)
}

// P256KeyFrom wraps an existing P-256 key.
func P256KeyFrom(priv *ecdsa.PrivateKey, kind string, expires time.Time, rights ...string) (*P256Key, error) {
	spki, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	c := Credential{ID: policy.KeyID(spki), Kind: kind, PublicKey: spki, Alg: policy.AlgES256, Rights: rights}
	if !expires.IsZero() {
		c.ExpiresAt = expires.Unix()
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &P256Key{priv: priv, cred: c}, nil
}

// Credential is the key's entry for a wallet policy.
func (k *P256Key) Credential() Credential { return k.cred }

// Stamp signs request bytes.
func (k *P256Key) Stamp(request []byte) (*Stamp, error) {
	h := sha256.Sum256(request)
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, h[:])
	if err != nil {
		return nil, err
	}
	return &Stamp{CredentialID: k.cred.ID, Signature: sig}, nil
}

// receiptKey returns the cluster's receipt key: from the attestation
// document when the client checked attestation at Dial, else from
// system_info over the session (authenticated to the cluster identity).
func (c *Client) receiptKey(ctx context.Context) (ed25519.PublicKey, error) {
	c.keyMu.Lock()
	defer c.keyMu.Unlock()
	if c.rk != nil {
		return c.rk, nil
	}
	var info api.Info
	if err := c.Call(ctx, "system_info", nil, &info); err != nil {
		return nil, err
	}
	if len(info.ReceiptKey) != ed25519.PublicKeySize {
		return nil, errors.New("secretd: the cluster sent no receipt key")
	}
	c.rk = info.ReceiptKey
	return c.rk, nil
}

// Info is the cluster's public identity and receipt key.
type Info = api.Info

// Info returns the cluster identity, the receipt key (the one checked at
// Dial when attestation is required) and the cluster's current DRK
// fingerprint with the SHA-256 of its transcript, as the enclave states
// them now (system_info; a client that pins the DRK checks it in the
// attestation, AttestationPolicy.DRK).
func (c *Client) Info(ctx context.Context) (*Info, error) {
	rk, err := c.receiptKey(ctx)
	if err != nil {
		return nil, err
	}
	var info api.Info
	if err := c.Call(ctx, "system_info", nil, &info); err != nil {
		return nil, err
	}
	if !rk.Equal(ed25519.PublicKey(info.ReceiptKey)) {
		return nil, errors.New("secretd: the cluster states another receipt key than the one pinned")
	}
	return &Info{ClusterIdentity: c.identity.Bytes(), ReceiptKey: rk, DRK: info.DRK, Transcript: info.Transcript}, nil
}

// request encodes a stamped request for this cluster, now.
func (c *Client) request(method, oid string, params any) ([]byte, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return policy.Encode(method, oid, params, c.identity.Bytes(), time.Now().UnixMilli(), nonce)
}

func (c *Client) stamped(ctx context.Context, rpc, method, oid string, params any, st Stamper, out any) ([]byte, error) {
	req, err := c.request(method, oid, params)
	if err != nil {
		return nil, err
	}
	s, err := st.Stamp(req)
	if err != nil {
		return nil, fmt.Errorf("secretd: stamping: %w", err)
	}
	return req, c.Call(ctx, rpc, []any{req, s}, out)
}

// ErrUnexpectedCredential reports a receipt listing a credential the
// caller did not enrol: someone else added it. Warn the user.
var ErrUnexpectedCredential = errors.New("secretd: the wallet's policy holds a credential you did not enrol")

// checkReceipt verifies a receipt, that it is about the pinned instance
// of oid at no older version than seen (a new wallet's receipt pins it),
// and that it names exactly enrolled.
func (c *Client) checkReceipt(ctx context.Context, sr *SignedReceipt, oid string, enrolled []Credential, created bool) (*Receipt, error) {
	r, err := c.verifyReceipt(ctx, sr, oid)
	if err != nil {
		return nil, err
	}
	if created {
		c.pins.set(oid, r.Instance, r.Version)
	} else if err := c.pins.check(oid, r.Instance, r.Version); err != nil {
		return nil, err
	}
	if u := r.Unexpected(enrolled); len(u) > 0 || len(r.Credentials) != len(enrolled) {
		return r, ErrUnexpectedCredential
	}
	return r, nil
}

// verifyReceipt checks a receipt's signature, wallet and cluster.
func (c *Client) verifyReceipt(ctx context.Context, sr *SignedReceipt, oid string) (*Receipt, error) {
	rk, err := c.receiptKey(ctx)
	if err != nil {
		return nil, err
	}
	r, err := VerifyReceipt(rk, sr)
	if err != nil {
		return nil, err
	}
	if r.OID != oid || string(r.Cluster) != string(c.identity.Bytes()) || len(r.Instance) != 16 {
		return nil, errors.New("secretd: the receipt is for another wallet or cluster")
	}
	return r, nil
}

// CreateOptions describe a new wallet.
type CreateOptions struct {
	Words      int // 12, 15, 18, 21 or 24; default 24
	Attributes map[string]string
	PolicyID   string
}

// CreateWallet makes a wallet whose first credential is st's, stamped by
// st (proof of possession). The receipt is checked: it must list exactly
// st's credential.
func (c *Client) CreateWallet(ctx context.Context, oid string, o CreateOptions, st Stamper) (*Receipt, error) {
	if o.Words == 0 {
		o.Words = 24
	}
	cred := st.Credential()
	var sr SignedReceipt
	_, err := c.stamped(ctx, "hdwallet_create", policy.MethodCreate, oid, policy.CreateParams{
		Words: o.Words, Attributes: attrPairs(o.Attributes), PolicyID: o.PolicyID, Credentials: []Credential{cred},
	}, st, &sr)
	if err != nil {
		return nil, err
	}
	return c.checkReceipt(ctx, &sr, oid, []Credential{cred}, true)
}

// HPKE suite of export and import (RFC 9180): DHKEM(P-256, HKDF-SHA256),
// HKDF-SHA256, AES-256-GCM.
var (
	hpkeKEM  = hpke.DHKEM(ecdh.P256())
	hpkeKDF  = hpke.HKDFSHA256()
	hpkeAEAD = hpke.AES256GCM()
)

// ImportWallet makes a wallet from an existing mnemonic. The phrase is
// HPKE-sealed here to an import key of the cluster (checked against the
// receipt key), so it crosses the app and the runner only as ciphertext.
func (c *Client) ImportWallet(ctx context.Context, oid, mnemonic string, o CreateOptions, st Stamper) (*Receipt, error) {
	rk, err := c.receiptKey(ctx)
	if err != nil {
		return nil, err
	}
	var ik ImportKey
	if err := c.Call(ctx, "system_import_key", nil, &ik); err != nil {
		return nil, err
	}
	cred := st.Credential()
	p := policy.ImportParams{Attributes: attrPairs(o.Attributes), PolicyID: o.PolicyID, Credentials: []Credential{cred}}
	if err := SealImport(rk, &ik, oid, mnemonic, &p); err != nil {
		return nil, err
	}
	var sr SignedReceipt
	if _, err = c.stamped(ctx, "hdwallet_import", policy.MethodImport, oid, p, st, &sr); err != nil {
		return nil, err
	}
	return c.checkReceipt(ctx, &sr, oid, []Credential{cred}, true)
}

// ImportKey is an HPKE public key of the cluster for one import, signed
// by its receipt key.
type ImportKey = api.ImportKey

// ImportParams are the params of an import request.
type ImportParams = policy.ImportParams

// SealImport checks that ik is signed by the cluster's receipt key and
// HPKE-seals mnemonic to it into p (KeyID, Enc and Ciphertext), for the
// wallet oid and for p's other fields: the ciphertext opens only inside
// an import request for oid that enrols exactly p's credentials,
// attributes and policy id, so an app that relays the request cannot
// reuse it in an import of its own. Set those fields before calling, and
// do not change them after. Only the enclave can open it.
func SealImport(receiptKey ed25519.PublicKey, ik *ImportKey, oid, mnemonic string, p *ImportParams) error {
	msg := append(append([]byte(api.ImportKeyContext), ik.KeyID...), ik.PublicKey...)
	if len(receiptKey) != ed25519.PublicKeySize || !ed25519.Verify(receiptKey, msg, ik.Signature) {
		return errors.New("secretd: the import key is not signed by the cluster")
	}
	pub, err := hpkeKEM.NewPublicKey(ik.PublicKey)
	if err != nil {
		return err
	}
	p.KeyID, p.Enc, p.Ciphertext = ik.KeyID, nil, nil
	ad, err := policy.ImportBinding(oid, p)
	if err != nil {
		return err
	}
	enc, sender, err := hpke.NewSender(pub, hpkeKDF, hpkeAEAD, api.ImportInfo(oid))
	if err != nil {
		return err
	}
	phrase := []byte(mnemonic)
	defer clear(phrase)
	ct, err := sender.Seal(ad, phrase)
	if err != nil {
		return err
	}
	p.Enc, p.Ciphertext = enc, ct
	return nil
}

// Sign asks for one signature (see SignParams and the scheme constants).
func (c *Client) Sign(ctx context.Context, oid string, p SignParams, st Stamper) (*SignResult, error) {
	var out SignResult
	if _, err := c.stamped(ctx, "hdwallet_sign", policy.MethodSign, oid, p, st, &out); err != nil {
		return nil, err
	}
	if err := c.pins.check(oid, out.Instance, 0); err != nil {
		return nil, err
	}
	return &out, nil
}

// Export returns the wallet's mnemonic. The enclave seals it with HPKE to
// a key made here for this one call; it is opened here and nowhere else,
// and only if it is the mnemonic of the pinned wallet instance.
func (c *Client) Export(ctx context.Context, oid string, st Stamper) (string, error) {
	k, err := NewExportKey()
	if err != nil {
		return "", err
	}
	var out api.ExportResult
	req, err := c.stamped(ctx, "hdwallet_export", policy.MethodExport, oid, policy.ExportParams{Recipient: k.Public()}, st, &out)
	if err != nil {
		return "", err
	}
	if err := c.pins.check(oid, out.Instance, 0); err != nil {
		return "", err
	}
	return k.Open(oid, out.Instance, req, out.Enc, out.Ciphertext)
}

// ExportKey is the one-call HPKE key an export is sealed to. It lives
// only where the mnemonic is to be shown.
type ExportKey struct{ k hpke.PrivateKey }

// NewExportKey makes a fresh export key.
func NewExportKey() (*ExportKey, error) {
	k, err := hpkeKEM.GenerateKey()
	if err != nil {
		return nil, err
	}
	return &ExportKey{k: k}, nil
}

// Public is the recipient key for policy.ExportParams.
func (k *ExportKey) Public() []byte { return k.k.PublicKey().Bytes() }

// Open opens an export answer for the wallet instance of oid; request is
// the exact export request bytes (their hash is bound into the sealing,
// as the instance is).
func (k *ExportKey) Open(oid string, instance, request, enc, ciphertext []byte) (string, error) {
	r, err := hpke.NewRecipient(enc, k.k, hpkeKDF, hpkeAEAD, api.ExportInfo(oid, instance))
	if err != nil {
		return "", errors.New("secretd: the exported mnemonic does not open")
	}
	h := policy.Hash(request)
	pt, err := r.Open(h[:], ciphertext)
	if err != nil {
		return "", errors.New("secretd: the exported mnemonic does not open")
	}
	defer clear(pt)
	return string(pt), nil
}

// UpdatePolicy changes the policy of a wallet at version (Receipt.Version)
// with a stamp by a credential holding the policy right. enrolled is the
// credential list the caller expects afterwards; the receipt must match it.
//
// Every credential the change adds must stamp the request too, as proof
// that its holder agrees: pass their Stampers as proofs, in any order.
func (c *Client) UpdatePolicy(ctx context.Context, oid string, version uint64, ch PolicyChange, st Stamper, enrolled []Credential, proofs ...Stamper) (*Receipt, error) {
	req, err := c.request(policy.MethodUpdatePolicy, oid, policy.UpdatePolicyParams{Version: version, Change: ch})
	if err != nil {
		return nil, err
	}
	s, err := st.Stamp(req)
	if err != nil {
		return nil, fmt.Errorf("secretd: stamping: %w", err)
	}
	params := []any{req, s}
	if len(proofs) > 0 {
		ps := make([]*Stamp, len(proofs))
		for i, p := range proofs {
			if ps[i], err = p.Stamp(req); err != nil {
				return nil, fmt.Errorf("secretd: stamping a proof: %w", err)
			}
		}
		params = append(params, ps)
	}
	var sr SignedReceipt
	if err := c.Call(ctx, "hdwallet_update_policy", params, &sr); err != nil {
		return nil, err
	}
	return c.checkReceipt(ctx, &sr, oid, enrolled, false)
}

// Policy returns the wallet's current policy, checked against the
// cluster's receipt key and the wallet's pin (the first answer about an
// unpinned oid pins it), but not against an expected list.
func (c *Client) Policy(ctx context.Context, oid string) (*Receipt, error) {
	var sr SignedReceipt
	if err := c.Call(ctx, "hdwallet_get_policy", []any{oid}, &sr); err != nil {
		return nil, err
	}
	r, err := c.verifyReceipt(ctx, &sr, oid)
	if err != nil {
		return nil, err
	}
	if err := c.pins.check(oid, r.Instance, r.Version); err != nil {
		return nil, err
	}
	return r, nil
}

// Address returns the address (and public key) of kind scheme (the Addr*
// constants: eth, btc_p2wpkh, btc_p2tr, cosmos, solana, bls, p256,
// secp256k1) at path; hrp is the bech32 prefix for btc and cosmos. The
// answer's statement is checked with VerifyAddress against the cluster's
// receipt key and the wallet's pinned instance (the first answer about an
// unpinned oid pins it).
func (c *Client) Address(ctx context.Context, oid, scheme, path, hrp string) (Address, error) {
	var out Address
	if err := c.Call(ctx, "hdwallet_get_address", []any{oid, scheme, path, hrp}, &out); err != nil {
		return Address{}, err
	}
	rk, err := c.receiptKey(ctx)
	if err != nil {
		return Address{}, err
	}
	inst, err := VerifyAddress(rk, &out, oid, scheme, path, hrp)
	if err != nil {
		return Address{}, err
	}
	if err := c.pins.check(oid, inst, 0); err != nil {
		return Address{}, err
	}
	return out, nil
}

// ErrAddressStatement is returned by VerifyAddress.
var ErrAddressStatement = errors.New("secretd: the address is not the one the cluster signed")

// VerifyAddress checks that a is what the cluster with receiptKey says
// wallet oid has at path for scheme and hrp: its statement is signed by
// the receipt key and names exactly these, a's address and a's public
// key. It returns the wallet instance the statement names, which the
// caller compares with the instance it pinned for oid: a statement of
// another wallet at the same oid is genuine too. A device runs both
// checks before it shows an address as the user's.
func VerifyAddress(receiptKey ed25519.PublicKey, a *Address, oid, scheme, path, hrp string) (instance []byte, err error) {
	if len(receiptKey) != ed25519.PublicKeySize || !ed25519.Verify(receiptKey, append([]byte(api.AddressContext), a.Statement...), a.Signature) {
		return nil, fmt.Errorf("%w: no valid signature", ErrAddressStatement)
	}
	var st api.AddressStatement
	if err := wire.Unmarshal(a.Statement, &st); err != nil {
		return nil, fmt.Errorf("%w: unreadable statement", ErrAddressStatement)
	}
	if len(st.Instance) != 16 {
		return nil, fmt.Errorf("%w: no wallet instance", ErrAddressStatement)
	}
	want := api.AddressStatement{OID: oid, Instance: st.Instance, Scheme: scheme, Path: path, HRP: hrp, Address: a.Address, PublicKey: a.PublicKey}
	if !sameStatement(&st, &want) {
		return nil, fmt.Errorf("%w: it signed %s %s at %s of %s", ErrAddressStatement, st.Scheme, st.Address, st.Path, st.OID)
	}
	return st.Instance, nil
}

func sameStatement(a, b *api.AddressStatement) bool {
	return a.OID == b.OID && string(a.Instance) == string(b.Instance) && a.Scheme == b.Scheme && a.Path == b.Path &&
		a.HRP == b.HRP && a.Address == b.Address && a.PublicKey == b.PublicKey
}

// Signing schemes and address kinds.
const (
	SchemeSecp256k1    = api.SchemeSecp256k1
	SchemeEthPersonal  = api.SchemeEthPersonal
	SchemeEthTypedData = api.SchemeEthTypedData
	SchemeEthTx        = api.SchemeEthTx
	SchemeBTCECDSA     = api.SchemeBTCECDSA
	SchemeBTCTaproot   = api.SchemeBTCTaproot
	SchemeBTCSchnorr   = api.SchemeBTCSchnorr
	SchemeCosmos       = api.SchemeCosmos
	SchemeEd25519      = api.SchemeEd25519
	SchemeBLS          = api.SchemeBLS
	SchemeP256         = api.SchemeP256

	AddrEth       = api.AddrEth
	AddrP2WPKH    = api.AddrP2WPKH
	AddrP2TR      = api.AddrP2TR
	AddrCosmos    = api.AddrCosmos
	AddrSolana    = api.AddrSolana
	AddrBLS       = api.AddrBLS
	AddrP256      = api.AddrP256
	AddrSecp256k1 = api.AddrSecp256
)
