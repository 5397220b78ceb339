package server

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/internal/nioapi"
)

// auth is the signed-in caller of a request.
type auth struct {
	sess authdb.Session
	user authdb.User
}

// Cookie names. The session cookie is HttpOnly, SameSite=Lax and Secure
// (browsers accept Secure cookies from http://localhost, so dev works).
const (
	sessionCookie = "niomon_session"
	oidcCookie    = "niomon_oidc"
)

// sessionTokenPrefix marks session tokens so secret scanners find them.
const sessionTokenPrefix = "nios_"

// rotationGrace is how long a rotated cookie token keeps working: requests
// the browser sent before it saw the new cookie.
const rotationGrace = 30 * time.Second

// touchEvery bounds how often a session's last-seen time is written.
const touchEvery = time.Minute

func (s *Server) sessionDigest(token string) authdb.Digest {
	return authdb.Digest(s.tokens.Digest(purposeSession, token))
}

// csrfToken is the session's CSRF token: an HMAC of the session id, so it
// needs no storage and dies with the session. It changes when the session
// rotates; the answer that rotates carries the new one in X-CSRF-Token.
func (s *Server) csrfToken(id authdb.Digest) string {
	d := s.tokens.Digest(purposeCSRF, string(id[:]))
	return base64.RawURLEncoding.EncodeToString(d[:])
}

func (s *Server) csrfOK(a *auth, got string) bool {
	return got != "" && hmac.Equal([]byte(got), []byte(s.csrfToken(a.sess.ID)))
}

// authenticate finds the caller's session: a bearer token, else the
// session cookie. It enforces the idle timeout, records activity, and
// rotates a cookie session that is older than Sessions.RotateAfter.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*auth, error) {
	kind := authdb.SessionBearer
	token, ok := bearerToken(r)
	if !ok {
		c, err := r.Cookie(sessionCookie)
		if err != nil || c.Value == "" {
			return nil, errUnauthorized
		}
		kind, token = authdb.SessionCookie, c.Value
	}
	if !strings.HasPrefix(token, sessionTokenPrefix) || len(token) > 128 {
		return nil, errUnauthorized
	}
	ctx, now := r.Context(), s.now()
	sess, err := s.db.GetSession(ctx, s.sessionDigest(token), now)
	if errors.Is(err, authdb.ErrRevoked) && !sess.RotatedTo.IsZero() && kind == authdb.SessionCookie {
		sess, err = s.rotatedSession(ctx, sess, now)
	}
	switch {
	case errors.Is(err, authdb.ErrNotFound), errors.Is(err, authdb.ErrExpired), errors.Is(err, authdb.ErrRevoked):
		return nil, errUnauthorized
	case err != nil:
		return nil, err
	}
	if sess.Kind != kind {
		return nil, errUnauthorized
	}
	if now.Sub(sess.LastSeen) > s.cfg.Sessions.IdleTimeout.Duration {
		if err := s.db.RevokeSession(ctx, sess.UserID, sess.ID, now); err != nil {
			return nil, err
		}
		return nil, errUnauthorized
	}
	u, err := s.db.GetUser(ctx, sess.UserID)
	if err != nil {
		if errors.Is(err, authdb.ErrNotFound) {
			return nil, errUnauthorized // a pending user cleaned up
		}
		return nil, err
	}
	if now.Sub(sess.LastSeen) > touchEvery {
		if err := s.db.TouchSession(ctx, sess.ID, now); err != nil && !errors.Is(err, authdb.ErrConflict) {
			return nil, err
		}
	}
	a := &auth{sess: sess, user: u}
	if kind == authdb.SessionCookie && now.Sub(sess.CreatedAt) > s.cfg.Sessions.RotateAfter.Duration {
		if err := s.rotate(w, r, a); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// rotatedSession accepts a rotated cookie token within rotationGrace (the
// browser's requests in flight) as its successor. Later, it is a stolen
// copy being replayed: every session rotated from it is revoked too (the
// holder of a copy may have rotated it several times), which signs out
// the thief and the user alike, and the user signs in again.
func (s *Server) rotatedSession(ctx context.Context, old authdb.Session, now time.Time) (authdb.Session, error) {
	if now.Sub(old.RevokedAt) <= rotationGrace {
		return s.db.GetSession(ctx, old.RotatedTo, now)
	}
	s.log.Warn("a rotated session token was replayed; revoking every session rotated from it", "user", old.UserID)
	if _, err := s.db.RevokeRotatedFrom(ctx, old.UserID, old.ID, now); err != nil {
		return authdb.Session{}, err
	}
	return authdb.Session{}, authdb.ErrRevoked
}

// rotate replaces a's cookie session by a new one and sets its cookie and
// CSRF token on the answer.
func (s *Server) rotate(w http.ResponseWriter, r *http.Request, a *auth) error {
	token := sessionTokenPrefix + newToken()
	ns, err := s.db.RotateSession(r.Context(), a.sess.ID, s.sessionDigest(token), s.clientOf(r), s.now())
	if errors.Is(err, authdb.ErrRevoked) {
		return nil // a concurrent request rotated it; this one goes on under grace
	}
	if err != nil {
		return err
	}
	a.sess = ns
	s.setSessionCookie(w, token, ns.ExpiresAt)
	w.Header().Set("X-CSRF-Token", s.csrfToken(ns.ID))
	return nil
}

func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:]), true
	}
	return "", false
}

func (s *Server) clientOf(r *http.Request) authdb.Client {
	ua := r.UserAgent()
	if len(ua) > authdb.MaxUserAgentLen {
		ua = ua[:authdb.MaxUserAgentLen]
	}
	ua = strings.ToValidUTF8(ua, "")
	ip, _ := netip.ParseAddr(s.clientIP(r))
	return authdb.Client{UserAgent: ua, IP: ip.Unmap()}
}

func (s *Server) setSessionCookie(w http.ResponseWriter, token string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", Expires: expires,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
}

func (s *Server) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
}

// signIn starts a session for u and answers with it: a cookie (and CSRF
// token) for a browser, or a bearer token when asked for one.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request, u authdb.User, bearer, newUser bool, event string) error {
	return s.signInWith(w, r, u, bearer, newUser, event, "")
}

// signInWith is signIn for a session made with the API key apiKeyID:
// revoking that key ends the session.
func (s *Server) signInWith(w http.ResponseWriter, r *http.Request, u authdb.User, bearer, newUser bool, event, apiKeyID string) error {
	ctx, now := r.Context(), s.now()
	kind := authdb.SessionCookie
	if bearer {
		kind = authdb.SessionBearer
	}
	token := sessionTokenPrefix + newToken()
	sess, err := s.db.CreateSession(ctx, authdb.NewSession{
		ID: s.sessionDigest(token), UserID: u.ID, Kind: kind,
		ExpiresAt: now.Add(s.cfg.Sessions.MaxAge.Duration), Client: s.clientOf(r), APIKeyID: apiKeyID,
	}, now)
	if err != nil {
		return err
	}
	s.audit(r, u.ID, event, nil)
	out := nioapi.Session{User: s.userView(ctx, u), NewUser: newUser, ExpiresAt: sess.ExpiresAt}
	if bearer {
		out.Token = token
	} else {
		s.setSessionCookie(w, token, sess.ExpiresAt)
		out.CSRFToken = s.csrfToken(sess.ID)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// userView is the API's view of a user.
func (s *Server) userView(ctx context.Context, u authdb.User) nioapi.User {
	v := nioapi.User{ID: u.ID, State: string(u.State), WalletReady: u.State == authdb.UserActive}
	if es, err := s.db.ListEmails(ctx, u.ID); err == nil && len(es) > 0 {
		v.Email = es[0].Email
	}
	return v
}

// audit appends an audit event; a failure is logged, not fatal: the
// action it records has already happened.
func (s *Server) audit(r *http.Request, userID, event string, detail []byte) {
	ip, _ := netip.ParseAddr(s.clientIP(r))
	_, err := s.db.AppendAudit(r.Context(), authdb.AuditEvent{
		At: s.now(), UserID: userID, Event: event, IP: ip.Unmap(), RequestID: requestID(r), Detail: detail,
	})
	if err != nil {
		s.log.Error("audit append failed", "request_id", requestID(r), "event", event, "err", err)
	}
}
