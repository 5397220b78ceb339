// Package nioapi is the niomon server's public JSON API, version 1: the
// request and response types the server and its clients share, and a Go
// client. docs/openapi.json documents the same API; a test checks the two
// agree.
//
// Binary fields are base64 (standard alphabet) in JSON, as encoding/json
// writes []byte. Key-using requests carry a Secretd request and its stamp
// (see docs/secretd-protocol.md): the server checks the request names the
// signed-in user's wallet and relays both to secretd, which checks the
// stamp against the wallet's own policy.
package nioapi

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/secretd"
)

// Config is GET /v1/config: what a client needs before it signs anything.
type Config struct {
	PublicURL       string   `json:"public_url"`
	RPID            string   `json:"rp_id"`
	ClusterIdentity []byte   `json:"cluster_identity"`
	ReceiptKey      []byte   `json:"receipt_key"`
	OIDCProviders   []string `json:"oidc_providers"`
	// SessionKeyTTL is the longest a device session key may live, in
	// seconds.
	SessionKeyTTL int `json:"session_key_ttl"`
}

// EmailStart is POST /v1/auth/email/start.
type EmailStart struct {
	Email string `json:"email"`
}

// EmailStarted is the answer: the same for a known and an unknown address.
type EmailStarted struct {
	FlowID    string `json:"flow_id"`
	ExpiresIn int    `json:"expires_in"` // seconds
}

// EmailVerify is POST /v1/auth/email/verify.
type EmailVerify struct {
	FlowID string `json:"flow_id"`
	Code   string `json:"code"`
	// Bearer asks for a bearer token in the answer instead of a cookie
	// (command-line and server clients).
	Bearer bool `json:"bearer,omitempty"`
}

// LinkConfirm is POST /v1/auth/email/link: spends a magic-link token.
type LinkConfirm struct {
	Token  string `json:"token"`
	Bearer bool   `json:"bearer,omitempty"`
}

// Session is what signing in returns.
type Session struct {
	User    User `json:"user"`
	NewUser bool `json:"new_user"`
	// CSRFToken must be sent as X-CSRF-Token with every state-changing
	// request made with the session cookie.
	CSRFToken string    `json:"csrf_token,omitempty"`
	Token     string    `json:"token,omitempty"` // bearer sessions only
	ExpiresAt time.Time `json:"expires_at"`
}

// User is the signed-in user.
type User struct {
	ID          string `json:"id"`
	State       string `json:"state"` // "pending" until the wallet exists, then "active"
	Email       string `json:"email,omitempty"`
	WalletReady bool   `json:"wallet_ready"`
}

// APIKeyChallenge is POST /v1/auth/apikey/challenge's answer.
type APIKeyChallenge struct {
	Challenge []byte `json:"challenge"`
	ExpiresIn int    `json:"expires_in"`
}

// APIKeySignIn is POST /v1/auth/apikey/signup and /login: the key's
// ECDSA P-256 signature (ASN.1 DER, SHA-256) over APIKeySignedText ‖
// challenge proves possession.
type APIKeySignIn struct {
	PublicKey []byte `json:"public_key,omitempty"` // SPKI DER; signup only
	KeyID     string `json:"key_id,omitempty"`     // hex SHA-256 of the SPKI; login only
	Challenge []byte `json:"challenge"`
	Signature []byte `json:"signature"`
}

// APIKeySignedText prefixes what an API key signs to sign in.
const APIKeySignedText = "niomon api-key sign-in v1\x00"

// Stamp is a Secretd stamp in JSON.
type Stamp struct {
	CredentialID      []byte `json:"credential_id"`
	Signature         []byte `json:"signature"`
	AuthenticatorData []byte `json:"authenticator_data,omitempty"`
	ClientDataJSON    []byte `json:"client_data_json,omitempty"`
}

// Stamped is a Secretd request with its stamp: the body of every
// key-using call (POST /v1/wallet, /v1/wallet/import, /v1/wallet/sign,
// /v1/wallet/export, /v1/wallet/policy).
type Stamped struct {
	Request []byte `json:"request"`
	Stamp   Stamp  `json:"stamp"`
	// Origin, on a signature a dApp asked for, is the dApp's web origin
	// (scheme://host[:port]) as the wallet page saw it: the server then
	// signs only for a registered app that may use this wallet, never for
	// a blocked site, and a Sign-In with Ethereum message only for the
	// site it names. Absent when the user signs in the wallet itself.
	Origin string `json:"origin,omitempty"`
	// Proofs, for a policy change that adds credentials, are each added
	// credential's own stamp of the same request.
	Proofs []Stamp `json:"proofs,omitempty"`
}

// Receipt is a signed policy receipt, to be checked by the client with the
// cluster's receipt key (Config.ReceiptKey).
type Receipt struct {
	Receipt   []byte `json:"receipt"`
	Signature []byte `json:"signature"`
}

// Wallet is GET /v1/wallet.
type Wallet struct {
	OID       string    `json:"oid"`
	Ready     bool      `json:"ready"`
	Addresses []Address `json:"addresses,omitempty"`
}

// Address is one default account.
type Address struct {
	Chain     string `json:"chain"` // ethereum, bitcoin, bitcoin-taproot, solana, cosmos
	Path      string `json:"path"`
	Address   string `json:"address"`
	PublicKey string `json:"public_key"` // hex
	// Statement and Signature are secretd's signed statement of this
	// address (VerifyAddress checks them).
	Statement []byte `json:"statement"`
	Signature []byte `json:"signature"`
}

// Attestation is GET /v1/attestation's answer: the enclave's attestation
// document (COSE_Sign1) for the nonce asked for.
type Attestation struct {
	Document []byte `json:"document"`
}

// Account is one of the default addresses: the chain's name in the API,
// and what secretd is asked for (an address kind, a path, a bech32 hrp).
type Account struct {
	Chain, Scheme, Path, HRP string
}

// DefaultAccounts are the addresses a wallet shows: the first account of
// each default chain.
var DefaultAccounts = []Account{
	{"ethereum", api.AddrEth, "m/44'/60'/0'/0/0", ""},
	{"bitcoin", api.AddrP2WPKH, "m/84'/0'/0'/0/0", "bc"},
	{"bitcoin-taproot", api.AddrP2TR, "m/86'/0'/0'/0/0", "bc"},
	{"solana", api.AddrSolana, "m/44'/501'/0'/0'", ""},
	{"cosmos", api.AddrCosmos, "m/44'/118'/0'/0/0", "cosmos"},
}

// VerifyAddress checks that a is the address secretd (whose receipt key
// is receiptKey) signed for wallet oid, as the default account of its
// chain, and returns the wallet instance the statement names. A device
// runs it on every address before showing it, and compares the instance
// with the one it pinned: the server relays and caches addresses, and
// must not be able to swap one, nor show another wallet's at the same oid.
func VerifyAddress(receiptKey ed25519.PublicKey, oid string, a Address) (instance []byte, err error) {
	for _, acc := range DefaultAccounts {
		if acc.Chain == a.Chain && acc.Path == a.Path {
			return secretd.VerifyAddress(receiptKey, &secretd.Address{Address: a.Address, PublicKey: a.PublicKey, Statement: a.Statement, Signature: a.Signature}, oid, acc.Scheme, acc.Path, acc.HRP)
		}
	}
	return nil, fmt.Errorf("%w: %s at %s is not a default account", secretd.ErrAddressStatement, a.Chain, a.Path)
}

// SignResult is POST /v1/wallet/sign's answer.
type SignResult struct {
	Signature []byte `json:"signature"`
	PublicKey []byte `json:"public_key"`
	Instance  []byte `json:"instance"` // the wallet instance whose key signed
	Digest    []byte `json:"digest,omitempty"`
	RawTx     []byte `json:"raw_tx,omitempty"`
	TxHash    []byte `json:"tx_hash,omitempty"`
}

// ExportResult is POST /v1/wallet/export's answer: the mnemonic sealed
// to the device key in the request.
type ExportResult struct {
	Enc        []byte `json:"enc"`
	Ciphertext []byte `json:"ciphertext"`
	Instance   []byte `json:"instance"` // the wallet instance exported (bound into the sealing)
}

// ImportKey is GET /v1/wallet/import-key: an HPKE key of the cluster,
// signed by its receipt key.
type ImportKey struct {
	KeyID     []byte `json:"key_id"`
	PublicKey []byte `json:"public_key"`
	Signature []byte `json:"signature"`
}

// SessionInfo is one entry of GET /v1/sessions.
type SessionInfo struct {
	ID        string    `json:"id"`
	Current   bool      `json:"current"`
	Kind      string    `json:"kind"` // cookie or bearer
	CreatedAt time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen"`
	UserAgent string    `json:"user_agent,omitempty"`
	IP        string    `json:"ip,omitempty"`
	// DeviceKeys are the device session keys this session enrolled in
	// the wallet policy. Revoking the session can also remove them (see
	// RevokeSession).
	DeviceKeys [][]byte `json:"device_keys,omitempty"`
}

// RevokeSession is the optional body of POST /v1/sessions/{id}/revoke
// and /v1/session/logout: a stamped update_policy that removes exactly
// the session's device keys, so they leave the wallet policy too.
type RevokeSession struct {
	PolicyChange *Stamped `json:"policy_change,omitempty"`
}

// Revoked is the answer.
type Revoked struct {
	Revoked           bool     `json:"revoked"`
	DeviceKeysRemoved [][]byte `json:"device_keys_removed,omitempty"`
	// DeviceKeysLeft are still in the wallet policy (no policy change
	// was sent); they stop working when they expire.
	DeviceKeysLeft [][]byte `json:"device_keys_left,omitempty"`
}

// Device is one credential of GET /v1/devices.
type Device struct {
	Kind           string    `json:"kind"` // passkey, api_key, session_key
	ID             []byte    `json:"id"`
	Label          string    `json:"label,omitempty"`
	Name           string    `json:"name,omitempty"` // the user's own name for it (POST /v1/devices/name)
	CreatedAt      time.Time `json:"created_at"`
	LastUsed       time.Time `json:"last_used,omitzero"`
	BackupEligible bool      `json:"backup_eligible,omitempty"`
	BackupState    bool      `json:"backup_state,omitempty"`
}

// Passkey is one of GET /v1/passkeys: what a client needs to enrol it
// as a wallet credential.
type Passkey struct {
	CredentialID   []byte    `json:"credential_id"`
	PublicKey      []byte    `json:"public_key"` // DER SubjectPublicKeyInfo
	Alg            int       `json:"alg"`        // COSE; -7 (ES256)
	BackupEligible bool      `json:"backup_eligible"`
	BackupState    bool      `json:"backup_state"`
	CreatedAt      time.Time `json:"created_at"`
	LastUsed       time.Time `json:"last_used,omitzero"`
}

// PasskeyBegin starts a WebAuthn ceremony: Options go to
// navigator.credentials.create or .get (PublicKeyCredential
// parseCreationOptionsFromJSON / parseRequestOptionsFromJSON), Flow comes
// back with the result.
type PasskeyBegin struct {
	Flow    string          `json:"flow"`
	Options json.RawMessage `json:"options"`
}

// PasskeyFinish ends a ceremony: Credential is the PublicKeyCredential's
// toJSON().
type PasskeyFinish struct {
	Flow       string          `json:"flow"`
	Credential json.RawMessage `json:"credential"`
	Bearer     bool            `json:"bearer,omitempty"`
}

// WalletCreated answers POST /v1/wallet and /v1/wallet/import.
type WalletCreated struct {
	Receipt Receipt `json:"receipt"`
	Wallet  Wallet  `json:"wallet"`
}

// ErrorBody is every error answer.
type ErrorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

// OIDCLink answers POST /v1/auth/oidc/{provider}/link: the provider URL
// to send this browser to (the flow is bound to it by a cookie).
type OIDCLink struct {
	URL string `json:"url"`
}

// RevokeDevice is POST /v1/devices/revoke: a passkey or API key stops
// signing in; with PolicyChange (a stamped update_policy removing exactly
// this credential) it also leaves the wallet policy. A device session key
// lives only in the wallet policy, so for one PolicyChange is required.
type RevokeDevice struct {
	Kind         string   `json:"kind"` // passkey, api_key, session_key
	ID           []byte   `json:"id"`
	PolicyChange *Stamped `json:"policy_change,omitempty"`
}

// PairingStart is POST /v1/pairings: a new device asks to join the
// signed-in user's wallet with Credential, the canonical CBOR of its
// wallet policy credential (the same bytes it will prove).
type PairingStart struct {
	Credential []byte `json:"credential"`
}

// Pairing is a new device's request to join the wallet. ID is shown only
// to the device that made it (it polls GET /v1/pairings/{id}); the device
// that approves finds it by Code, which PairingCode derives from the
// credential's public key, and checks that itself.
type Pairing struct {
	ID         string    `json:"id,omitempty"`
	Code       string    `json:"code"`
	Credential []byte    `json:"credential"`
	UserAgent  string    `json:"user_agent"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	// Approval is the approving device's stamped update_policy adding
	// Credential; the new device adds its own proof and sends it.
	Approval *Stamped `json:"approval,omitempty"`
}

// PairingCode is the code a new device shows for its credential's public
// key (SPKI): the first 50 bits of its SHA-256 in Crockford base32, ten
// symbols. The approving device types it and recomputes it from the key
// the server hands over, so a server that swaps the key must find another
// with the same 50 bits while the pairing lives.
func PairingCode(publicKey []byte) string {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	h := sha256.Sum256(publicKey)
	v := binary.BigEndian.Uint64(h[:8]) >> 14 // the first 50 bits
	out := make([]byte, 10)
	for i := 9; i >= 0; i-- {
		out[i] = alphabet[v&31]
		v >>= 5
	}
	return string(out)
}

// ActivityEvent is one of GET /v1/activity: something that happened to
// the signed-in user's account, newest first.
type ActivityEvent struct {
	At    time.Time `json:"at"`
	Event string    `json:"event"` // e.g. signin.email_code, wallet.policy_changed
	IP    string    `json:"ip,omitempty"`
}

// SignInChallengeContext prefixes the server's challenge in a passkey
// sign-in. The challenge the authenticator signs is
// SignInChallenge(options' challenge), never the server's bytes as they
// are: a Secretd request's stamp is an assertion whose challenge is the
// request's SHA-256, so a server free to pick the sign-in challenge could
// pick a request's hash and turn the user's sign-in into a stamp of it.
const SignInChallengeContext = "niomon/passkey-sign-in/v1\x00"

// SignInChallenge is what a client passes as the WebAuthn challenge of a
// passkey sign-in, given the challenge in the server's options.
func SignInChallenge(server []byte) []byte {
	h := sha256.Sum256(append([]byte(SignInChallengeContext), server...))
	return h[:]
}

// NameDevice is POST /v1/devices/name: the user's name for one of their
// credentials, shown on the security page ("" clears it). It is display
// only, kept by the server; the wallet policy says what a key can do.
type NameDevice struct {
	ID   []byte `json:"id"`
	Name string `json:"name"`
}

// NewApp is POST /v1/apps: a developer registers an app.
type NewApp struct {
	Name    string `json:"name"`
	IconURL string `json:"icon_url,omitempty"`
	Contact string `json:"contact"`
	// Origins: https://host exact, https://*.domain for its subdomains,
	// or http://localhost:PORT for development.
	Origins      []string `json:"origins"`
	RedirectURIs []string `json:"redirect_uris,omitempty"`
}

// App is a registered app as its developer (or an administrator) sees it.
type App struct {
	ID           string      `json:"id"` // also its OpenID client_id
	OwnerID      string      `json:"owner_id"`
	Name         string      `json:"name"`
	IconURL      string      `json:"icon_url,omitempty"`
	Contact      string      `json:"contact"`
	Status       string      `json:"status"` // pending, verified, rejected, suspended
	StatusReason string      `json:"status_reason,omitempty"`
	Origins      []AppOrigin `json:"origins"`
	RedirectURIs []string    `json:"redirect_uris"`
	// ClientType is "public" (PKCE, no secret) or "confidential".
	ClientType string    `json:"client_type"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// AppOrigin is an origin of an app, with how to prove its domain.
type AppOrigin struct {
	Origin      string    `json:"origin"`
	Domain      string    `json:"domain,omitempty"` // the domain to prove; "" for a development origin
	Verified    bool      `json:"verified"`
	Method      string    `json:"method,omitempty"` // dns or file, once verified
	VerifiedAt  time.Time `json:"verified_at,omitzero"`
	TXTName     string    `json:"txt_name,omitempty"`     // a TXT record here...
	TXTValue    string    `json:"txt_value,omitempty"`    // ...holding this
	FileURL     string    `json:"file_url,omitempty"`     // or a file here...
	FileContent string    `json:"file_content,omitempty"` // ...holding this
	// AwaitingReview: proved after the administrator's last decision
	// about a verified app, so not trusted until the app is reviewed again.
	AwaitingReview bool `json:"awaiting_review,omitempty"`
	// Verdict and Flagged, when the phishing checker does not allow the
	// origin: its verdict (warn or block) and why, for the developer.
	Verdict string `json:"verdict,omitempty"`
	Flagged string `json:"flagged,omitempty"`
}

// VerifyOrigin is POST /v1/apps/{id}/origins/verify.
type VerifyOrigin struct {
	Origin string `json:"origin"`
	Method string `json:"method"` // dns or file
}

// ClientSecret is POST /v1/apps/{id}/client-secret's answer, shown once.
type ClientSecret struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// AppStatus is POST /v1/admin/apps/{id}/status: an administrator's
// vetting decision, with the reason the developer is shown.
type AppStatus struct {
	Status string `json:"status"`
	Reason string `json:"reason"`
}

// SiteCheck is GET /v1/apps/lookup?origin=...: what the wallet shows
// before it serves a site.
type SiteCheck struct {
	Origin string `json:"origin"`
	// Verdict: allow, warn or block (package phishing).
	Verdict     string `json:"verdict"`
	Reason      string `json:"reason"`
	Explanation string `json:"explanation"`
	Appeal      string `json:"appeal,omitempty"`
	// App is the registered app the origin belongs to, if any that may
	// sign this user in (a verified app, or the user's own in development).
	App *AppSummary `json:"app,omitempty"`
	// ReturnRegistered answers the lookup's return parameter: the URL is,
	// exactly, one of the app's registered redirect URIs, on the origin.
	ReturnRegistered bool `json:"return_registered,omitempty"`
}

// AppSummary is what a user is shown of an app.
type AppSummary struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	IconURL string `json:"icon_url,omitempty"`
	Status  string `json:"status"`
}

// PhishingStatus is GET /v1/admin/phishing: the lists, the overrides and
// what the checker holds.
type PhishingStatus struct {
	Lists     []PhishingListStatus `json:"lists"`
	Overrides []PhishingOverride   `json:"overrides"`
	// Deny, Allow and Targets count the checker's entries (Targets: the
	// registered domains look-alikes are judged against).
	Deny    int `json:"deny"`
	Allow   int `json:"allow"`
	Targets int `json:"targets"`
}

// PhishingListStatus is one configured list.
type PhishingListStatus struct {
	Name     string    `json:"name"`
	Source   string    `json:"source"` // its file or URL
	Deny     int       `json:"deny"`
	Allow    int       `json:"allow"`
	SyncedAt time.Time `json:"synced_at,omitzero"` // the last full read that worked
	Error    string    `json:"error,omitempty"`    // the last read's failure, if it failed
}

// PhishingOverride is an administrator's verdict for a host and its
// subdomains (POST /v1/admin/phishing/overrides).
type PhishingOverride struct {
	Host      string    `json:"host"`
	Verdict   string    `json:"verdict"` // allow, warn or block
	Reason    string    `json:"reason"`
	Appeal    string    `json:"appeal,omitempty"`
	AdminID   string    `json:"admin_id,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// PhishingDiff is POST /v1/admin/phishing/lists/{name}/diff: a hot
// update of one list, kept until its next full sync.
type PhishingDiff struct {
	AddDeny     []string `json:"add_deny,omitempty"`
	RemoveDeny  []string `json:"remove_deny,omitempty"`
	AddAllow    []string `json:"add_allow,omitempty"`
	RemoveAllow []string `json:"remove_allow,omitempty"`
}
