package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/niomon/niomon/internal/apps"
	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/phishing"
)

// The app registry's API: a developer registers an app, proves its
// origins' domains and gets a client secret; an administrator (an
// account with a verified email listed in the configuration's admins)
// vets it. Every vetting decision is an audit event with its reason
// (authdb.SetAppStatus).

var (
	errNotAdmin   = apiErr(http.StatusForbidden, CodeForbidden, "only an administrator (an address in the configuration's admins) may do this")
	errNoSuchApp  = apiErr(http.StatusNotFound, CodeNotFound, "no such app")
	errTooManyApp = apiErr(http.StatusConflict, CodeConflict, "you have registered as many apps as one developer may")
)

// isAdmin reports whether the user has a verified email listed in
// Config.Admins.
func (s *Server) isAdmin(ctx context.Context, userID string) (bool, error) {
	if len(s.cfg.Admins) == 0 {
		return false, nil
	}
	emails, err := s.db.ListEmails(ctx, userID)
	if err != nil {
		return false, err
	}
	for _, e := range emails {
		if !e.VerifiedAt.IsZero() && slices.ContainsFunc(s.cfg.Admins, func(a string) bool { return asciiLower(a) == asciiLower(e.Email) }) {
			return true, nil
		}
	}
	return false, nil
}

func (s *Server) requireAdmin(ctx context.Context, a *auth) error {
	ok, err := s.isAdmin(ctx, a.user.ID)
	if err != nil {
		return err
	}
	if !ok {
		return errNotAdmin
	}
	return nil
}

// appView is an app as its developer sees it, with the proofs to publish.
func (s *Server) appView(ctx context.Context, a authdb.App) (nioapi.App, error) {
	v := nioapi.App{ID: a.ID, OwnerID: a.OwnerID, Name: a.Name, IconURL: a.IconURL, Contact: a.Contact, Status: a.Status,
		StatusReason: a.StatusReason, RedirectURIs: a.RedirectURIs, ClientType: "public", CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
	if v.RedirectURIs == nil {
		v.RedirectURIs = []string{}
	}
	secret, err := s.db.GetOIDCClient(ctx, a.ID)
	switch {
	case err == nil && !secret.IsZero():
		v.ClientType = "confidential"
	case err != nil && !errors.Is(err, authdb.ErrNotFound):
		return nioapi.App{}, err
	}
	for _, o := range a.Origins {
		ov := nioapi.AppOrigin{Origin: o.Origin, Verified: !o.VerifiedAt.IsZero(), Method: o.Method, VerifiedAt: o.VerifiedAt,
			AwaitingReview: a.Status == authdb.AppVerified && !o.VerifiedAt.IsZero() && !reviewed(a, o)}
		if po, err := apps.ParseOrigin(o.Origin); err == nil && !po.Development() {
			c := apps.Challenge{Domain: po.Domain(), Token: o.Token}
			ov.Domain, ov.TXTName, ov.TXTValue, ov.FileURL, ov.FileContent = c.Domain, c.TXTName(), c.TXTValue(), c.FileURL(), c.Token
			// Why users would be warned off it, if they would.
			if res := s.phish.Check(po.Scheme + "://" + po.Domain()); res.Verdict != phishing.Allow {
				ov.Verdict, ov.Flagged = string(res.Verdict), res.Explain()
			}
		}
		v.Origins = append(v.Origins, ov)
	}
	return v, nil
}

// writeApp answers app as its developer sees it.
func (s *Server) writeApp(w http.ResponseWriter, ctx context.Context, app authdb.App) error {
	v, err := s.appView(ctx, app)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// ownApp reads app id for its owner; an administrator may read any.
func (s *Server) ownApp(ctx context.Context, a *auth, id string, adminToo bool) (authdb.App, error) {
	app, err := s.db.GetApp(ctx, id)
	if errors.Is(err, authdb.ErrNotFound) || errors.Is(err, authdb.ErrInvalid) {
		return authdb.App{}, errNoSuchApp
	}
	if err != nil {
		return authdb.App{}, err
	}
	if app.OwnerID == a.user.ID {
		return app, nil
	}
	if adminToo {
		if ok, err := s.isAdmin(ctx, a.user.ID); err != nil || ok {
			return app, err
		}
	}
	return authdb.App{}, errNoSuchApp
}

// createApp is POST /v1/apps.
func (s *Server) createApp(w http.ResponseWriter, r *http.Request, a *auth) error {
	var in nioapi.NewApp
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	app := authdb.App{OwnerID: a.user.ID, Name: strings.TrimSpace(in.Name), IconURL: in.IconURL, Contact: strings.TrimSpace(in.Contact)}
	if app.IconURL != "" && !strings.HasPrefix(app.IconURL, "https://") {
		return apiErr(http.StatusBadRequest, CodeInvalidRequest, "icon_url must be an https:// URL")
	}
	for _, o := range in.Origins {
		po, err := apps.ParseOrigin(o)
		if err != nil {
			return apiErr(http.StatusBadRequest, CodeInvalidRequest, "origin "+quoteShort(o)+": "+strings.TrimPrefix(err.Error(), "apps: "))
		}
		app.Origins = append(app.Origins, authdb.AppOrigin{Origin: po.String()})
	}
	for _, u := range in.RedirectURIs {
		ru, err := apps.ParseRedirectURI(u)
		if err != nil {
			return apiErr(http.StatusBadRequest, CodeInvalidRequest, "redirect URI "+quoteShort(u)+": "+strings.TrimPrefix(err.Error(), "apps: "))
		}
		app.RedirectURIs = append(app.RedirectURIs, ru)
	}
	created, err := s.db.CreateApp(r.Context(), app, s.now())
	switch {
	case errors.Is(err, authdb.ErrTooManyApps):
		return errTooManyApp
	case errors.Is(err, authdb.ErrInvalid):
		return apiErr(http.StatusBadRequest, CodeInvalidRequest, strings.TrimPrefix(err.Error(), "authdb: invalid input: "))
	case err != nil:
		return err
	}
	origins := make([]string, 0, len(created.Origins))
	for _, o := range created.Origins {
		origins = append(origins, o.Origin)
	}
	s.audit(r, a.user.ID, "app.registered", auditDetail("app", created.ID, "origins", strings.Join(origins, " ")))
	v, err := s.appView(r.Context(), created)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// quoteShort quotes what a client sent, cut to a readable length.
func quoteShort(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return `"` + s + `"`
}

// listApps is GET /v1/apps: the caller's apps.
func (s *Server) listApps(w http.ResponseWriter, r *http.Request, a *auth) error {
	list, err := s.db.ListAppsByOwner(r.Context(), a.user.ID)
	if err != nil {
		return err
	}
	return s.writeApps(w, r.Context(), list)
}

func (s *Server) writeApps(w http.ResponseWriter, ctx context.Context, list []authdb.App) error {
	out := []nioapi.App{}
	for _, app := range list {
		v, err := s.appView(ctx, app)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getApp is GET /v1/apps/{id}: its developer's, or any for an
// administrator.
func (s *Server) getApp(w http.ResponseWriter, r *http.Request, a *auth) error {
	app, err := s.ownApp(r.Context(), a, r.PathValue("id"), true)
	if err != nil {
		return err
	}
	return s.writeApp(w, r.Context(), app)
}

// verifyOrigin is POST /v1/apps/{id}/origins/verify: the server looks
// for the origin's proof (a DNS TXT record or a file) and records it.
func (s *Server) verifyOrigin(w http.ResponseWriter, r *http.Request, a *auth) error {
	var in nioapi.VerifyOrigin
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	app, err := s.ownApp(ctx, a, r.PathValue("id"), false)
	if err != nil {
		return err
	}
	if in.Method != string(apps.MethodDNS) && in.Method != string(apps.MethodFile) {
		return apiErr(http.StatusBadRequest, CodeInvalidRequest, `method must be "dns" or "file"`)
	}
	i := slices.IndexFunc(app.Origins, func(o authdb.AppOrigin) bool { return o.Origin == in.Origin })
	if i < 0 {
		return apiErr(http.StatusNotFound, CodeNotFound, "the app has no origin "+quoteShort(in.Origin))
	}
	po, err := apps.ParseOrigin(in.Origin)
	if err != nil || po.Development() {
		return apiErr(http.StatusBadRequest, CodeInvalidRequest, "a development origin (http://localhost) has no domain to prove")
	}
	if po.Wildcard && in.Method != string(apps.MethodDNS) {
		return apiErr(http.StatusBadRequest, CodeInvalidRequest, "a wildcard origin covers every subdomain, so it is proved by its DNS TXT record only")
	}
	if err := s.allow(ctx, "domain_checks_per_user", a.user.ID); err != nil {
		return err
	}
	c := apps.Challenge{Domain: po.Domain(), Token: app.Origins[i].Token}
	if err := s.verifier.Verify(ctx, c, apps.Method(in.Method)); err != nil {
		msg := "the domain " + c.Domain + " does not show this app's token yet"
		if errors.Is(err, apps.ErrFetch) {
			msg = "the file " + c.FileURL() + " could not be fetched"
		}
		return apiErr(http.StatusUnprocessableEntity, CodeInvalidRequest, msg)
	}
	if err := s.db.VerifyAppOrigin(ctx, app.ID, in.Origin, in.Method, s.now()); err != nil {
		return err
	}
	s.audit(r, a.user.ID, "app.origin_verified", auditDetail("app", app.ID, "origin", in.Origin, "method", in.Method))
	if app.Status == authdb.AppVerified {
		if err := s.refreshPhishingApps(ctx); err != nil {
			return err
		}
	}
	if app, err = s.db.GetApp(ctx, app.ID); err != nil {
		return err
	}
	return s.writeApp(w, ctx, app)
}

// newClientSecret is POST /v1/apps/{id}/client-secret: the app becomes a
// confidential client with a new secret, shown once.
func (s *Server) newClientSecret(w http.ResponseWriter, r *http.Request, a *auth) error {
	app, err := s.ownApp(r.Context(), a, r.PathValue("id"), false)
	if err != nil {
		return err
	}
	secret, err := s.SetOIDCClientSecret(r.Context(), app.ID)
	if err != nil {
		return err
	}
	s.audit(r, a.user.ID, "app.client_secret", auditDetail("app", app.ID))
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, nioapi.ClientSecret{ClientID: app.ID, ClientSecret: secret})
	return nil
}

// adminListApps is GET /v1/admin/apps?status=pending (the default).
func (s *Server) adminListApps(w http.ResponseWriter, r *http.Request, a *auth) error {
	if err := s.requireAdmin(r.Context(), a); err != nil {
		return err
	}
	status := r.URL.Query().Get("status")
	if status == "" {
		status = authdb.AppPending
	}
	list, err := s.db.ListAppsByStatus(r.Context(), status)
	if errors.Is(err, authdb.ErrInvalid) {
		return apiErr(http.StatusBadRequest, CodeInvalidRequest, "status must be pending, verified, rejected or suspended")
	}
	if err != nil {
		return err
	}
	if status == authdb.AppPending {
		// Verified apps with an origin proved since their review wait too.
		verified, err := s.db.ListAppsByStatus(r.Context(), authdb.AppVerified)
		if err != nil {
			return err
		}
		for _, a := range verified {
			if slices.ContainsFunc(a.Origins, func(o authdb.AppOrigin) bool { return !o.VerifiedAt.IsZero() && !reviewed(a, o) }) {
				list = append(list, a)
			}
		}
	}
	return s.writeApps(w, r.Context(), list)
}

// adminSetAppStatus is POST /v1/admin/apps/{id}/status.
func (s *Server) adminSetAppStatus(w http.ResponseWriter, r *http.Request, a *auth) error {
	ctx := r.Context()
	if err := s.requireAdmin(ctx, a); err != nil {
		return err
	}
	var in nioapi.AppStatus
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.Reason) == "" {
		return apiErr(http.StatusBadRequest, CodeInvalidRequest, "a vetting decision needs a reason: the developer is shown it")
	}
	ip, _ := netip.ParseAddr(s.clientIP(r))
	err := s.db.SetAppStatus(ctx, authdb.Vetting{AppID: r.PathValue("id"), Status: in.Status, Reason: strings.TrimSpace(in.Reason),
		AdminID: a.user.ID, IP: ip, RequestID: requestID(r), At: s.now()})
	switch {
	case errors.Is(err, authdb.ErrNotFound):
		return errNoSuchApp
	case errors.Is(err, authdb.ErrInvalid):
		return apiErr(http.StatusBadRequest, CodeInvalidRequest, strings.TrimPrefix(err.Error(), "authdb: invalid input: "))
	case err != nil:
		return err
	}
	if err := s.refreshPhishingApps(ctx); err != nil {
		return err
	}
	app, err := s.db.GetApp(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	// An app that is no longer verified keeps only its developer's
	// sign-ins while pending; a rejected or suspended one none. (Uses are also checked against the
	// status; this keeps a later re-verification from reviving them.)
	if app.Status != authdb.AppVerified {
		keep := app.OwnerID
		if app.Status != authdb.AppPending {
			keep = ""
		}
		if _, err := s.db.RevokeOIDCAppGrants(ctx, app.ID, keep, s.now()); err != nil {
			return err
		}
	}
	return s.writeApp(w, ctx, app)
}

// auditDetail is an audit event's detail from key, value pairs.
func auditDetail(kv ...string) []byte {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	return b
}

// asciiLower lowercases A-Z only: an administrator's address matches
// only itself, not a Unicode case-fold of it (ſ is not s).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
