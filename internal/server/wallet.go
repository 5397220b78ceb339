package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"

	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/secretd"
)

// defaultAccount is an address every wallet shows from the start.
// relay errors: what secretd answered, in the API's terms. Messages of
// refusals describe the caller's request (never a secret) and go through;
// anything else is internal.
func relayError(err error) error {
	var se *secretd.Error
	switch {
	case errors.Is(err, secretd.ErrUnauthorized) && errors.As(err, &se):
		return apiErr(http.StatusForbidden, CodeStampRefused, "the wallet refused the stamp: "+se.Message)
	case errors.Is(err, secretd.ErrInvalidParams) && errors.As(err, &se):
		return badRequest("the wallet refused the request: " + se.Message)
	case errors.Is(err, secretd.ErrNotFound):
		return apiErr(http.StatusConflict, CodeWalletMissing, "you have no wallet yet")
	case errors.Is(err, secretd.ErrConflict) && errors.As(err, &se):
		return apiErr(http.StatusConflict, CodeConflict, se.Message+": read the policy (GET /v1/wallet/policy) and write the change again")
	case errors.Is(err, secretd.ErrExists):
		return apiErr(http.StatusConflict, CodeConflict, "the wallet exists already")
	case errors.Is(err, secretd.ErrUnavailable), errors.Is(err, secretd.ErrConnection), errors.Is(err, secretd.ErrClosed):
		return apiErr(http.StatusServiceUnavailable, CodeUnavailable, "the key service is unavailable; try again")
	}
	return err
}

// decodeStamped reads a Stamped body and checks that its request is a
// method request for the caller's own wallet. The stamp itself is checked
// by secretd.
func decodeStamped(r *http.Request, a *auth, method string, params any) (*nioapi.Stamped, *policy.Request, *policy.Stamp, error) {
	var in nioapi.Stamped
	if err := decodeJSON(r, &in); err != nil {
		return nil, nil, nil, err
	}
	if len(in.Request) == 0 || len(in.Request) > policy.MaxRequest {
		return nil, nil, nil, badRequest("request: want the CBOR request bytes")
	}
	req, err := policy.Decode(in.Request, params)
	if err != nil {
		return nil, nil, nil, badRequest("request: " + err.Error())
	}
	if req.Method != method {
		return nil, nil, nil, badRequest(fmt.Sprintf("request: the method is %q, want %q", req.Method, method))
	}
	if req.OID != a.user.ID {
		return nil, nil, nil, apiErr(http.StatusForbidden, CodeForbidden, "request: it must name your own wallet (oid = your user id)")
	}
	st := &policy.Stamp{
		CredentialID: in.Stamp.CredentialID, Signature: in.Stamp.Signature,
		AuthenticatorData: in.Stamp.AuthenticatorData, ClientDataJSON: in.Stamp.ClientDataJSON,
	}
	if len(st.CredentialID) == 0 || len(st.Signature) == 0 {
		return nil, nil, nil, badRequest("stamp: credential_id and signature are required")
	}
	return &in, req, st, nil
}

// checkNewCredentials applies the server's rules to the credentials a new
// wallet or a policy change brings: device session keys must expire
// within Users.SessionKeyTTL.
func (s *Server) checkNewCredentials(creds []policy.Credential) error {
	limit := s.now().Add(s.cfg.Users.SessionKeyTTL.Duration).Unix()
	for _, c := range creds {
		if c.Kind == policy.KindSessionKey && c.ExpiresAt > limit {
			return badRequest(fmt.Sprintf("a session key may live at most %v", s.cfg.Users.SessionKeyTTL.Duration))
		}
	}
	return nil
}

// createWallet relays a stamped "create" for the caller's wallet (oid =
// user id), then activates the user and answers with the receipt and the
// default addresses. It is safe to retry: a wallet already made with the
// same credential counts as made.
func (s *Server) createWallet(w http.ResponseWriter, r *http.Request, a *auth) error {
	var p policy.CreateParams
	in, req, st, err := decodeStamped(r, a, policy.MethodCreate, &p)
	if err != nil {
		return err
	}
	return s.newWallet(w, r, a, "hdwallet_create", in, req, st, p.Credentials)
}

// importWallet relays a stamped "import": the mnemonic inside is HPKE
// ciphertext to the enclave's import key, opened only there.
func (s *Server) importWallet(w http.ResponseWriter, r *http.Request, a *auth) error {
	var p policy.ImportParams
	in, req, st, err := decodeStamped(r, a, policy.MethodImport, &p)
	if err != nil {
		return err
	}
	return s.newWallet(w, r, a, "hdwallet_import", in, req, st, p.Credentials)
}

func (s *Server) newWallet(w http.ResponseWriter, r *http.Request, a *auth, rpc string, in *nioapi.Stamped, req *policy.Request, st *policy.Stamp, creds []policy.Credential) error {
	if err := s.checkNewCredentials(creds); err != nil {
		return err
	}
	importing := rpc == "hdwallet_import"
	if a.user.State == authdb.UserActive && (importing || !bytes.Equal(a.user.WalletCredentialID, st.CredentialID)) {
		return apiErr(http.StatusConflict, CodeConflict, "you have a wallet already")
	}
	ctx := r.Context()
	var sr policy.SignedReceipt
	err := s.sd.Call(ctx, rpc, []any{in.Request, st}, &sr)
	if errors.Is(err, secretd.ErrExists) && importing {
		// An import's content matters: a wallet that exists was not made
		// from this mnemonic as far as anyone here can tell.
		return apiErr(http.StatusConflict, CodeConflict, "you have a wallet already; GET /v1/wallet shows it")
	}
	if errors.Is(err, secretd.ErrExists) {
		// A retry after a lost answer, or a crash before activation: the
		// wallet is this request's if it holds the stamping credential.
		if err = s.sd.Call(ctx, "hdwallet_get_policy", []any{req.OID}, &sr); err != nil {
			return relayError(err)
		}
		rk, err := s.receiptKey(ctx)
		if err != nil {
			return relayError(err)
		}
		rc, err := secretd.VerifyReceipt(rk, &sr)
		if err != nil {
			return err
		}
		if !holds(rc, st.CredentialID) {
			return apiErr(http.StatusConflict, CodeConflict, "a wallet with other credentials exists for you")
		}
	} else if err != nil {
		return relayError(err)
	}
	rk, err := s.receiptKey(ctx)
	if err != nil {
		return relayError(err)
	}
	rc, err := secretd.VerifyReceipt(rk, &sr)
	if err != nil {
		return fmt.Errorf("server: the receipt from secretd does not verify: %w", err)
	}
	if err := s.recordDevices(ctx, a, rc.Credentials); err != nil {
		return err
	}
	if a.user.State != authdb.UserActive {
		err := s.db.ActivateUser(ctx, a.user.ID, st.CredentialID, s.now())
		if err != nil && !errors.Is(err, authdb.ErrConflict) {
			// ErrNotFound: the sign-up was cleaned up meanwhile; the
			// wallet is unreachable and the user signs up again.
			return err
		}
		a.user.State = authdb.UserActive
		a.user.WalletCredentialID = st.CredentialID
	}
	s.audit(r, a.user.ID, "wallet.created", nil)
	wv, err := s.walletView(ctx, a.user)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nioapi.WalletCreated{Receipt: nioapi.Receipt{Receipt: sr.Receipt, Signature: sr.Signature}, Wallet: *wv})
	return nil
}

func holds(rc *secretd.Receipt, id []byte) bool {
	for _, c := range rc.Credentials {
		if bytes.Equal(c.ID, id) {
			return true
		}
	}
	return false
}

// recordDevices remembers the session keys of a policy as the devices of
// the session that enrolled them (for the sessions and devices lists).
func (s *Server) recordDevices(ctx context.Context, a *auth, creds []policy.Credential) error {
	for _, c := range creds {
		if c.Kind != policy.KindSessionKey {
			continue
		}
		_, err := s.db.CreateDevice(ctx, authdb.Device{CredentialID: c.ID, UserID: a.user.ID, Label: c.Label, SessionID: a.sess.ID}, s.now())
		if err != nil && !errors.Is(err, authdb.ErrExists) {
			return err
		}
	}
	return nil
}

// walletView is the user's wallet with its default addresses, derived by
// secretd once and then served from the address cache.
func (s *Server) walletView(ctx context.Context, u authdb.User) (*nioapi.Wallet, error) {
	wv := &nioapi.Wallet{OID: u.ID, Ready: u.State == authdb.UserActive}
	if !wv.Ready {
		return wv, nil
	}
	cached, err := s.db.ListAddresses(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	var instance []byte // every address must be of one wallet instance
	have := map[string]authdb.Address{}
	for _, c := range cached {
		have[c.Chain+" "+c.Path] = c
	}
	for _, d := range nioapi.DefaultAccounts {
		c, ok := have[d.Chain+" "+d.Path]
		// Entries cached before secretd signed addresses get a statement
		// on first use.
		if !ok || c.Statement == nil {
			addr, err := s.sd.Address(ctx, u.ID, d.Scheme, d.Path, d.HRP)
			if err != nil {
				return nil, relayError(err)
			}
			pub, err := hexBytes(addr.PublicKey)
			if err != nil {
				return nil, fmt.Errorf("server: secretd sent a malformed public key: %w", err)
			}
			c, err = s.db.PutAddress(ctx, authdb.Address{UserID: u.ID, Chain: d.Chain, Path: d.Path, Address: addr.Address, PublicKey: pub,
				Statement: addr.Statement, Signature: addr.Signature}, s.now())
			if err != nil {
				return nil, err
			}
		}
		a := nioapi.Address{Chain: d.Chain, Path: d.Path, Address: c.Address, PublicKey: fmt.Sprintf("%x", c.PublicKey),
			Statement: c.Statement, Signature: c.Signature}
		// The cache is checked on every read: an address changed in the
		// database is refused here, not only on the user's device.
		rk, err := s.receiptKey(ctx)
		if err != nil {
			return nil, relayError(err)
		}
		inst, err := nioapi.VerifyAddress(rk, u.ID, a)
		if err != nil {
			return nil, fmt.Errorf("server: the cached %s address of user %s does not verify: %w", d.Chain, u.ID, err)
		}
		if instance == nil {
			instance = inst
		} else if !bytes.Equal(instance, inst) {
			return nil, fmt.Errorf("server: the cached addresses of user %s are of two wallet instances", u.ID)
		}
		wv.Addresses = append(wv.Addresses, a)
	}
	return wv, nil
}

func (s *Server) getWallet(w http.ResponseWriter, r *http.Request, a *auth) error {
	wv, err := s.walletView(r.Context(), a.user)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wv)
	return nil
}

// requireWallet refuses key-using calls of a user without a wallet.
func requireWallet(a *auth) error {
	if a.user.State != authdb.UserActive {
		return apiErr(http.StatusConflict, CodeWalletMissing, "create your wallet first (POST /v1/wallet)")
	}
	return nil
}

// sign relays a stamped "sign".
func (s *Server) sign(w http.ResponseWriter, r *http.Request, a *auth) error {
	if err := requireWallet(a); err != nil {
		return err
	}
	var p policy.SignParams
	in, _, st, err := decodeStamped(r, a, policy.MethodSign, &p)
	if err != nil {
		return err
	}
	if err := s.checkDappSign(r.Context(), a, in.Origin, &p); err != nil {
		return err
	}
	var out api.SignResult
	if err := s.sd.Call(r.Context(), "hdwallet_sign", []any{in.Request, st}, &out); err != nil {
		return relayError(err)
	}
	writeJSON(w, http.StatusOK, nioapi.SignResult{Signature: out.Signature, PublicKey: out.PublicKey, Instance: out.Instance, Digest: out.Digest, RawTx: out.RawTx, TxHash: out.TxHash})
	return nil
}

// export relays a stamped "export": the mnemonic comes back sealed to the
// key in the request, which only the user's device holds.
func (s *Server) export(w http.ResponseWriter, r *http.Request, a *auth) error {
	if err := requireWallet(a); err != nil {
		return err
	}
	var p policy.ExportParams
	in, _, st, err := decodeStamped(r, a, policy.MethodExport, &p)
	if err != nil {
		return err
	}
	var out api.ExportResult
	if err := s.sd.Call(r.Context(), "hdwallet_export", []any{in.Request, st}, &out); err != nil {
		return relayError(err)
	}
	s.audit(r, a.user.ID, "wallet.exported", nil)
	writeJSON(w, http.StatusOK, nioapi.ExportResult{Enc: out.Enc, Ciphertext: out.Ciphertext, Instance: out.Instance})
	return nil
}

// getPolicy answers the wallet's signed policy receipt.
func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request, a *auth) error {
	if err := requireWallet(a); err != nil {
		return err
	}
	var sr policy.SignedReceipt
	if err := s.sd.Call(r.Context(), "hdwallet_get_policy", []any{a.user.ID}, &sr); err != nil {
		return relayError(err)
	}
	writeJSON(w, http.StatusOK, nioapi.Receipt{Receipt: sr.Receipt, Signature: sr.Signature})
	return nil
}

// updatePolicy relays a stamped policy change.
func (s *Server) updatePolicy(w http.ResponseWriter, r *http.Request, a *auth) error {
	if err := requireWallet(a); err != nil {
		return err
	}
	var p policy.UpdatePolicyParams
	in, _, st, err := decodeStamped(r, a, policy.MethodUpdatePolicy, &p)
	if err != nil {
		return err
	}
	if err := s.checkNewCredentials(p.Change.Add); err != nil {
		return err
	}
	sr, err := s.relayPolicyChange(r, a, in, st, p.Change)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nioapi.Receipt{Receipt: sr.Receipt, Signature: sr.Signature})
	return nil
}

// relayPolicyChange sends a stamped update_policy and brings the device
// list in line with it.
func (s *Server) relayPolicyChange(r *http.Request, a *auth, in *nioapi.Stamped, st *policy.Stamp, ch policy.Change) (*policy.SignedReceipt, error) {
	ctx := r.Context()
	if len(in.Proofs) > policy.MaxProofs {
		return nil, badRequest(fmt.Sprintf("proofs: at most %d", policy.MaxProofs))
	}
	params := []any{in.Request, st}
	if len(in.Proofs) > 0 {
		proofs := make([]policy.Stamp, len(in.Proofs))
		for i, p := range in.Proofs {
			proofs[i] = policy.Stamp{CredentialID: p.CredentialID, Signature: p.Signature, AuthenticatorData: p.AuthenticatorData, ClientDataJSON: p.ClientDataJSON}
		}
		params = append(params, proofs)
	}
	var sr policy.SignedReceipt
	if err := s.sd.Call(ctx, "hdwallet_update_policy", params, &sr); err != nil {
		return nil, relayError(err)
	}
	rk, err := s.receiptKey(ctx)
	if err != nil {
		return nil, relayError(err)
	}
	rc, err := secretd.VerifyReceipt(rk, &sr)
	if err != nil {
		return nil, fmt.Errorf("server: the receipt from secretd does not verify: %w", err)
	}
	if err := s.recordDevices(ctx, a, rc.Credentials); err != nil {
		return nil, err
	}
	for _, id := range ch.Remove {
		if err := s.db.RevokeDevice(ctx, a.user.ID, id, s.now()); err != nil && !errors.Is(err, authdb.ErrNotFound) {
			return nil, err
		}
	}
	s.audit(r, a.user.ID, "wallet.policy_changed", nil)
	return &sr, nil
}

// importKey answers an HPKE import key of the cluster, signed by its
// receipt key (the client checks the signature with Config.ReceiptKey).
func (s *Server) importKey(w http.ResponseWriter, r *http.Request, a *auth) error {
	var ik api.ImportKey
	if err := s.sd.Call(r.Context(), "system_import_key", nil, &ik); err != nil {
		return relayError(err)
	}
	writeJSON(w, http.StatusOK, nioapi.ImportKey{KeyID: ik.KeyID, PublicKey: ik.PublicKey, Signature: ik.Signature})
	return nil
}

// getConfig is what a client needs before it signs anything.
// getAttestation relays a fresh attestation document of the enclave, for
// the nonce the device chose (base64url, 16 to 64 bytes). The document
// binds the cluster identity and receipt key to the enclave's
// measurements; the device checks it (secretd.VerifyAttestation), so the
// server relaying it need not be trusted.
func (s *Server) getAttestation(w http.ResponseWriter, r *http.Request, _ *auth) error {
	nonce, err := base64.RawURLEncoding.DecodeString(r.URL.Query().Get("nonce"))
	if err != nil || len(nonce) < 16 || len(nonce) > 64 {
		return badRequest("want ?nonce= with 16 to 64 random bytes in base64url (no padding)")
	}
	if err := s.allow(r.Context(), "attestations_per_ip", s.limitIP(r)); err != nil {
		return err
	}
	doc, err := s.sd.Attest(r.Context(), nonce)
	if err != nil {
		return relayError(err)
	}
	writeJSON(w, http.StatusOK, nioapi.Attestation{Document: doc})
	return nil
}

func (s *Server) getConfig(w http.ResponseWriter, r *http.Request, _ *auth) error {
	names := make([]string, 0, len(s.oidc))
	for _, p := range s.cfg.OIDC {
		names = append(names, p.Name)
	}
	cluster, receipt, err := s.clusterKeys(r.Context())
	if err != nil {
		return relayError(err)
	}
	writeJSON(w, http.StatusOK, nioapi.Config{
		PublicURL: s.cfg.PublicURL, RPID: s.cfg.RPID, ClusterIdentity: cluster, ReceiptKey: receipt,
		OIDCProviders: names, SessionKeyTTL: int(s.cfg.Users.SessionKeyTTL.Seconds()),
	})
	return nil
}
