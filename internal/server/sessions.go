package server

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/policy"
)

// getSession answers the caller's session and user (and, for a cookie
// session, its CSRF token: a reloaded page gets it here).
func (s *Server) getSession(w http.ResponseWriter, r *http.Request, a *auth) error {
	out := nioapi.Session{User: s.userView(r.Context(), a.user), ExpiresAt: a.sess.ExpiresAt}
	if a.sess.Kind == authdb.SessionCookie {
		out.CSRFToken = s.csrfToken(a.sess.ID)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// listSessions answers the user's live sessions, with the device keys
// each enrolled.
func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, a *auth) error {
	ctx := r.Context()
	ss, err := s.db.ListSessions(ctx, a.user.ID, s.now())
	if err != nil {
		return err
	}
	devs, err := s.db.ListDevices(ctx, a.user.ID)
	if err != nil {
		return err
	}
	out := []nioapi.SessionInfo{}
	for _, x := range ss {
		si := nioapi.SessionInfo{
			ID: x.ID.Hex(), Current: x.ID == a.sess.ID, Kind: string(x.Kind),
			CreatedAt: x.CreatedAt, LastSeen: x.LastSeen, UserAgent: x.Client.UserAgent,
		}
		if x.Client.IP.IsValid() {
			si.IP = x.Client.IP.String()
		}
		for _, d := range devs {
			if d.SessionID == x.ID {
				si.DeviceKeys = append(si.DeviceKeys, d.CredentialID)
			}
		}
		out = append(out, si)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// listDevices answers the user's credentials: passkeys, API keys and
// device session keys.
func (s *Server) listDevices(w http.ResponseWriter, r *http.Request, a *auth) error {
	ctx := r.Context()
	out := []nioapi.Device{}
	pks, err := s.db.ListPasskeys(ctx, a.user.ID)
	if err != nil {
		return err
	}
	for _, p := range pks {
		out = append(out, nioapi.Device{Kind: policy.KindPasskey, ID: p.CredentialID, CreatedAt: p.CreatedAt, LastUsed: p.LastUsedAt,
			BackupEligible: p.BackupEligible, BackupState: p.BackupState})
	}
	aks, err := s.db.ListAPIKeys(ctx, a.user.ID)
	if err != nil {
		return err
	}
	for _, k := range aks {
		if !k.RevokedAt.IsZero() {
			continue
		}
		id, _ := hex.DecodeString(k.ID)
		out = append(out, nioapi.Device{Kind: policy.KindAPIKey, ID: id, Label: k.Label, CreatedAt: k.CreatedAt})
	}
	devs, err := s.db.ListDevices(ctx, a.user.ID)
	if err != nil {
		return err
	}
	for _, d := range devs {
		out = append(out, nioapi.Device{Kind: policy.KindSessionKey, ID: d.CredentialID, Label: d.Label, CreatedAt: d.CreatedAt})
	}
	names, err := s.db.CredentialNames(ctx, a.user.ID)
	if err != nil {
		return err
	}
	for i := range out {
		out[i].Name = names[string(out[i].ID)]
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// revokeSession revokes one of the user's sessions. With a stamped policy
// change that removes the session's device keys, it also takes them out
// of the wallet policy (the server cannot: only the user's credentials
// change a policy). Without one, the session ends and the answer names
// the keys still in the policy (they expire on their own).
func (s *Server) revokeSession(w http.ResponseWriter, r *http.Request, a *auth) error {
	id, err := authdb.ParseDigest(r.PathValue("id"))
	if err != nil {
		return badRequest("id: want a session id from GET /v1/sessions")
	}
	if id == a.sess.ID && a.sess.Kind == authdb.SessionCookie {
		s.clearSessionCookie(w)
	}
	return s.endSession(w, r, a, id)
}

// logout ends the caller's own session, the same way.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, a *auth) error {
	if a.sess.Kind == authdb.SessionCookie {
		s.clearSessionCookie(w)
	}
	return s.endSession(w, r, a, a.sess.ID)
}

func (s *Server) endSession(w http.ResponseWriter, r *http.Request, a *auth, id authdb.Digest) error {
	ctx, now := r.Context(), s.now()
	var in nioapi.RevokeSession
	if err := decodeOptionalJSON(r, &in); err != nil {
		return err
	}
	devs, err := s.db.ListDevices(ctx, a.user.ID)
	if err != nil {
		return err
	}
	var keys [][]byte
	for _, d := range devs {
		if d.SessionID == id {
			keys = append(keys, d.CredentialID)
		}
	}
	out := nioapi.Revoked{}
	if in.PolicyChange != nil {
		var p policy.UpdatePolicyParams
		req, err := policy.Decode(in.PolicyChange.Request, &p)
		if err != nil || req.Method != policy.MethodUpdatePolicy || req.OID != a.user.ID {
			return badRequest("policy_change: want an update_policy request for your wallet")
		}
		if len(keys) == 0 {
			return badRequest("policy_change: this session enrolled no device key; revoke it without one")
		}
		if len(p.Change.Add) != 0 || !sameIDs(p.Change.Remove, keys) {
			return badRequest("policy_change: it must remove exactly this session's device keys and add nothing")
		}
		st := &policy.Stamp{CredentialID: in.PolicyChange.Stamp.CredentialID, Signature: in.PolicyChange.Stamp.Signature,
			AuthenticatorData: in.PolicyChange.Stamp.AuthenticatorData, ClientDataJSON: in.PolicyChange.Stamp.ClientDataJSON}
		if _, err := s.relayPolicyChange(r, a, in.PolicyChange, st, p.Change); err != nil {
			return err
		}
		out.DeviceKeysRemoved = keys
	} else {
		out.DeviceKeysLeft = keys
	}
	if err := s.db.RevokeSession(ctx, a.user.ID, id, now); err != nil {
		if errors.Is(err, authdb.ErrNotFound) {
			return errNotFound
		}
		return err
	}
	s.audit(r, a.user.ID, "session.revoked", nil)
	out.Revoked = true
	writeJSON(w, http.StatusOK, out)
	return nil
}

func sameIDs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		found := false
		for _, y := range b {
			if bytes.Equal(x, y) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func hexBytes(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not hex")
	}
	return b, nil
}

// revokeDevice takes one of the user's credentials away: a passkey or an
// API key can no longer sign in, and with a stamped policy change it
// leaves the wallet policy too. The last way to sign in is kept.
func (s *Server) revokeDevice(w http.ResponseWriter, r *http.Request, a *auth) error {
	var in nioapi.RevokeDevice
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if len(in.ID) == 0 || len(in.ID) > authdb.MaxCredentialIDLen {
		return badRequest("id: want a credential id from GET /v1/devices")
	}
	ctx, now := r.Context(), s.now()
	switch in.Kind {
	case policy.KindPasskey, policy.KindAPIKey:
		n, err := s.signInMethods(ctx, a.user.ID)
		if err != nil {
			return err
		}
		if n <= 1 {
			return apiErr(http.StatusConflict, CodeConflict, "this is your last way to sign in; add another first")
		}
	case policy.KindSessionKey:
		if in.PolicyChange == nil {
			return badRequest("policy_change: a session key lives only in the wallet policy; send the stamped change that removes it")
		}
	default:
		return badRequest("kind: want passkey, api_key or session_key")
	}
	if in.PolicyChange != nil {
		var p policy.UpdatePolicyParams
		req, err := policy.Decode(in.PolicyChange.Request, &p)
		if err != nil || req.Method != policy.MethodUpdatePolicy || req.OID != a.user.ID {
			return badRequest("policy_change: want an update_policy request for your wallet")
		}
		if len(p.Change.Add) != 0 || !sameIDs(p.Change.Remove, [][]byte{in.ID}) {
			return badRequest("policy_change: it must remove exactly this credential and add nothing")
		}
		st := &policy.Stamp{CredentialID: in.PolicyChange.Stamp.CredentialID, Signature: in.PolicyChange.Stamp.Signature,
			AuthenticatorData: in.PolicyChange.Stamp.AuthenticatorData, ClientDataJSON: in.PolicyChange.Stamp.ClientDataJSON}
		if _, err := s.relayPolicyChange(r, a, in.PolicyChange, st, p.Change); err != nil {
			return err
		}
	}
	var err error
	switch in.Kind {
	case policy.KindPasskey:
		err = s.db.DeletePasskey(ctx, a.user.ID, in.ID)
	case policy.KindAPIKey:
		err = s.db.RevokeAPIKey(ctx, a.user.ID, hex.EncodeToString(in.ID), now)
	case policy.KindSessionKey:
		err = s.db.RevokeDevice(ctx, a.user.ID, in.ID, now)
	}
	if err != nil && !(errors.Is(err, authdb.ErrNotFound) && in.PolicyChange != nil) {
		if errors.Is(err, authdb.ErrNotFound) || errors.Is(err, authdb.ErrInvalid) {
			return errNotFound
		}
		return err
	}
	s.audit(r, a.user.ID, "device.revoked", nil)
	writeJSON(w, http.StatusOK, nioapi.Revoked{Revoked: true, DeviceKeysRemoved: removedIf(in.PolicyChange != nil, in.ID)})
	return nil
}

func removedIf(ok bool, id []byte) [][]byte {
	if !ok {
		return nil
	}
	return [][]byte{id}
}

// signInMethods counts the ways a user can sign in: verified email
// addresses, OIDC accounts, passkeys and live API keys.
func (s *Server) signInMethods(ctx context.Context, userID string) (int, error) {
	n := 0
	es, err := s.db.ListEmails(ctx, userID)
	if err != nil {
		return 0, err
	}
	for _, e := range es {
		if !e.VerifiedAt.IsZero() {
			n++
		}
	}
	os, err := s.db.ListOIDC(ctx, userID)
	if err != nil {
		return 0, err
	}
	pks, err := s.db.ListPasskeys(ctx, userID)
	if err != nil {
		return 0, err
	}
	aks, err := s.db.ListAPIKeys(ctx, userID)
	if err != nil {
		return 0, err
	}
	for _, k := range aks {
		if k.RevokedAt.IsZero() {
			n++
		}
	}
	return n + len(os) + len(pks), nil
}

// activityLimit is how many recent events GET /v1/activity answers.
const activityLimit = 100

// activity answers the user's most recent audit events.
func (s *Server) activity(w http.ResponseWriter, r *http.Request, a *auth) error {
	es, err := s.db.ListRecentAudit(r.Context(), a.user.ID, activityLimit)
	if err != nil {
		return err
	}
	out := make([]nioapi.ActivityEvent, 0, len(es))
	for _, e := range es {
		v := nioapi.ActivityEvent{At: e.At, Event: e.Event}
		if e.IP.IsValid() {
			v.IP = e.IP.String()
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// nameDevice keeps the user's name for one of their credentials.
func (s *Server) nameDevice(w http.ResponseWriter, r *http.Request, a *auth) error {
	var in nioapi.NameDevice
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	in.Name = strings.TrimSpace(in.Name)
	if err := s.db.SetCredentialName(r.Context(), a.user.ID, in.ID, in.Name); err != nil {
		if errors.Is(err, authdb.ErrInvalid) {
			return badRequest(fmt.Sprintf("a name is at most %d bytes of text, and an id 1..%d bytes", authdb.MaxLabelLen, authdb.MaxCredentialIDLen))
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
