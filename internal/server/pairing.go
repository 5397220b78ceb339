package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/wire"
)

// pairingTTL is how long a new device's request to join waits for a
// device of the wallet to approve it.
const pairingTTL = 10 * time.Minute

// Pairing a second device: the server only carries messages between the
// two devices. The new device checks the change it proves adds exactly
// its own credential, and the approving device checks the credential it
// is handed has the code the new device shows (nioapi.PairingCode); the
// enclave wants both stamps. A server that lies here is caught by one of
// them.

// pairingStart records a new device's credential for the signed-in
// user's wallet.
func (s *Server) pairingStart(w http.ResponseWriter, r *http.Request, a *auth) error {
	if err := requireWallet(a); err != nil {
		return err
	}
	var in nioapi.PairingStart
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if len(in.Credential) == 0 || len(in.Credential) > authdb.MaxPairingCred {
		return badRequest("credential: want the canonical CBOR of a wallet policy credential")
	}
	var c policy.Credential
	if err := wire.Unmarshal(in.Credential, &c); err != nil {
		return badRequest("credential: not a wallet policy credential: " + err.Error())
	}
	if again, err := wire.Marshal(c); err != nil || !bytes.Equal(again, in.Credential) {
		return badRequest("credential: not in canonical form")
	}
	if err := c.Validate(); err != nil {
		return badRequest("credential: " + err.Error())
	}
	if c.Kind != policy.KindSessionKey {
		return badRequest("credential: a new device joins with a session key (a synced passkey needs no pairing)")
	}
	if err := s.checkNewCredentials([]policy.Credential{c}); err != nil {
		return err
	}
	now := s.now()
	p, err := s.db.CreatePairing(r.Context(), a.user.ID, nioapi.PairingCode(c.PublicKey), in.Credential, r.UserAgent(), now, now.Add(pairingTTL))
	switch {
	case errors.Is(err, authdb.ErrTooMany):
		return apiErr(http.StatusTooManyRequests, CodeRateLimited, "too many devices are waiting to join; approve or let them expire first")
	case errors.Is(err, authdb.ErrExists):
		return apiErr(http.StatusConflict, CodeConflict, "this key is waiting to join already")
	case err != nil:
		return err
	}
	s.audit(r, a.user.ID, "device.pairing_started", nil)
	writeJSON(w, http.StatusCreated, pairingView(p, true))
	return nil
}

// pairingGet answers the new device's poll: its pairing, with the
// approval once there is one.
func (s *Server) pairingGet(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, err := s.db.GetPairing(r.Context(), a.user.ID, r.PathValue("id"), s.now())
	if err != nil {
		return pairingError(err)
	}
	writeJSON(w, http.StatusOK, pairingView(p, true))
	return nil
}

// pairingDelete ends a pairing: the new device joined, or gave up.
func (s *Server) pairingDelete(w http.ResponseWriter, r *http.Request, a *auth) error {
	if err := s.db.DeletePairing(r.Context(), a.user.ID, r.PathValue("id")); err != nil {
		return pairingError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// pairingByCode answers the device that approves: the credential waiting
// under the code its user typed.
func (s *Server) pairingByCode(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, err := s.db.GetPairingByCode(r.Context(), a.user.ID, r.PathValue("code"), s.now())
	if err != nil {
		return pairingError(err)
	}
	writeJSON(w, http.StatusOK, pairingView(p, false))
	return nil
}

// pairingApprove keeps the approving device's stamped policy change for
// the new device, after checking it adds exactly the waiting credential
// (the new device checks that again before it proves it).
func (s *Server) pairingApprove(w http.ResponseWriter, r *http.Request, a *auth) error {
	if err := requireWallet(a); err != nil {
		return err
	}
	ctx, now := r.Context(), s.now()
	p, err := s.db.GetPairingByCode(ctx, a.user.ID, r.PathValue("code"), now)
	if err != nil {
		return pairingError(err)
	}
	var params policy.UpdatePolicyParams
	in, _, _, err := decodeStamped(r, a, policy.MethodUpdatePolicy, &params)
	if err != nil {
		return err
	}
	if len(params.Change.Remove) != 0 || len(params.Change.Add) != 1 {
		return badRequest("request: a pairing's change adds the new device's credential and nothing else")
	}
	if added, err := wire.Marshal(params.Change.Add[0]); err != nil || !bytes.Equal(added, p.Credential) {
		return badRequest("request: the change adds another credential than the one waiting under this code")
	}
	approval, err := json.Marshal(in)
	if err != nil {
		return err
	}
	if err := s.db.ApprovePairing(ctx, a.user.ID, p.Code, approval, now); err != nil {
		return pairingError(err)
	}
	s.audit(r, a.user.ID, "device.pairing_approved", nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func pairingError(err error) error {
	switch {
	case errors.Is(err, authdb.ErrNotFound):
		return apiErr(http.StatusNotFound, CodeNotFound, "no device is waiting to join with that code (it may have expired)")
	case errors.Is(err, authdb.ErrInvalid):
		return badRequest("the pairing id or code is malformed")
	case errors.Is(err, authdb.ErrConsumed):
		return apiErr(http.StatusConflict, CodeConflict, "that device was approved already")
	}
	return err
}

func pairingView(p authdb.Pairing, own bool) nioapi.Pairing {
	v := nioapi.Pairing{Code: p.Code, Credential: p.Credential, UserAgent: p.UserAgent, CreatedAt: p.CreatedAt, ExpiresAt: p.ExpiresAt}
	if own {
		v.ID = p.ID
		if p.Approval != nil {
			var st nioapi.Stamped
			if json.Unmarshal(p.Approval, &st) == nil {
				v.Approval = &st
			}
		}
	}
	return v
}
