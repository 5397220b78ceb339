package server

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/apps"
	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/phishing"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/siwe"
)

// Signatures a dApp asks for. The wallet page names the dApp's origin
// (nioapi.Stamped.Origin); the server signs for it only if
//
//   - the phishing checker does not block the origin;
//   - the origin is one of a registered app's that may use this wallet:
//     a verified app's proved origin, or, in development mode, an origin
//     of an app of the user's own that is not suspended;
//   - a Sign-In with Ethereum message (EIP-4361) names that origin's host
//     as its domain, its URI is on it, its address is the account that
//     signs, and it is within its validity window.
//
// Without an origin (the user signing in the wallet itself) a message
// that starts like a SIWE message must still parse.

// siteApp finds the app origin belongs to for userID.
func (s *Server) siteApp(ctx context.Context, userID, origin string) (*authdb.App, error) {
	for i := range s.builtin {
		for _, o := range s.builtin[i].Origins {
			if po, err := apps.ParseOrigin(o.Origin); err == nil && po.Matches(origin) {
				app := s.builtin[i]
				return &app, nil
			}
		}
	}
	verified, err := s.db.ListAppsByStatus(ctx, authdb.AppVerified)
	if err != nil {
		return nil, err
	}
	own, err := s.db.ListAppsByOwner(ctx, userID)
	if err != nil {
		return nil, err
	}
	for _, list := range [][]authdb.App{verified, own} {
		for i := range list {
			app := &list[i]
			if app.Status != authdb.AppVerified && app.Status != authdb.AppPending {
				continue // rejected or suspended: nobody
			}
			for _, o := range app.Origins {
				po, err := apps.ParseOrigin(o.Origin)
				if err != nil || !po.Matches(origin) {
					continue
				}
				if app.Status == authdb.AppVerified && reviewed(*app, o) {
					return app, nil
				}
				// Development mode: the developer, on a development
				// origin or one they proved.
				if app.OwnerID == userID && (po.Development() || !o.VerifiedAt.IsZero()) {
					return app, nil
				}
			}
		}
	}
	return nil, nil
}

// reviewed reports whether origin o of app was proved before the
// administrator's last decision about the app: an origin proved after
// it is not trusted until the app is reviewed again (a developer cannot
// add a domain to a verified app unseen).
func reviewed(app authdb.App, o authdb.AppOrigin) bool {
	return !o.VerifiedAt.IsZero() && !o.VerifiedAt.After(app.UpdatedAt)
}

// dappSchemes are the schemes a dApp may ask for: those whose content the
// wallet shows and the server can judge. A raw digest could be anything
// (an EIP-191 hash of a Sign-In with Ethereum message for another site,
// a transaction's sighash), so it is signed only in the wallet itself.
var dappSchemes = map[string]bool{
	api.SchemeEthPersonal:  true,
	api.SchemeEthTypedData: true,
	api.SchemeEthTx:        true,
	api.SchemeEd25519:      true, // Solana messages and transactions
}

// checkSite judges origin for userID.
// The app is returned too (nil if none), for what the summary leaves out.
func (s *Server) checkSite(ctx context.Context, userID, origin string) (nioapi.SiteCheck, *authdb.App, error) {
	v := s.phish.Check(origin)
	out := nioapi.SiteCheck{Origin: origin, Verdict: string(v.Verdict), Reason: string(v.Reason), Explanation: v.Explain(), Appeal: v.Appeal}
	app, err := s.siteApp(ctx, userID, origin)
	if err != nil {
		return nioapi.SiteCheck{}, nil, err
	}
	if app != nil {
		out.App = &nioapi.AppSummary{ID: app.ID, Name: app.Name, IconURL: app.IconURL, Status: app.Status}
	}
	return out, app, nil
}

// lookupSite is GET /v1/apps/lookup?origin=...[&return=URL]. With
// return, it also says whether the URL is, exactly, one of the app's
// registered redirect URIs on that origin: the wallet answers a request
// that came in a link only by going back to such a URL, so an open
// redirect elsewhere on the app's site cannot pass the answer on.
func (s *Server) lookupSite(w http.ResponseWriter, r *http.Request, a *auth) error {
	origin := r.URL.Query().Get("origin")
	if _, err := parseWebOrigin(origin); err != nil {
		return err
	}
	out, app, err := s.checkSite(r.Context(), a.user.ID, origin)
	if err != nil {
		return err
	}
	if back := r.URL.Query().Get("return"); back != "" && app != nil {
		u, err := url.Parse(back)
		sameOrigin := err == nil && u.Scheme+"://"+u.Host == origin && u.Fragment == "" && u.User == nil
		out.ReturnRegistered = sameOrigin && slices.ContainsFunc(app.RedirectURIs, func(r string) bool { return browserForm(r) == back })
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// browserForm is a registered redirect URI as a browser writes it (the
// href the wallet sends as return): scheme and host in lower case, no
// default port, "/" for an empty path. Anything else stays as registered,
// so the match stays exact; "" if it does not parse.
func browserForm(registered string) string {
	u, err := url.Parse(registered)
	if err != nil || u.Host == "" {
		return ""
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if (u.Scheme == "https" && u.Port() == "443") || (u.Scheme == "http" && u.Port() == "80") {
		u.Host = u.Hostname()
		if strings.Contains(u.Host, ":") {
			u.Host = "[" + u.Host + "]"
		}
	}
	if u.Path == "" && u.RawPath == "" {
		u.Path = "/"
	}
	return u.String()
}

// parseWebOrigin accepts scheme://host[:port] and nothing more.
func parseWebOrigin(origin string) (*url.URL, error) {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, apiErr(http.StatusBadRequest, CodeInvalidRequest, "origin: want scheme://host[:port], e.g. https://app.example.com")
	}
	return u, nil
}

// solanaPath is the Solana account a site may ask signatures of.
const solanaPath = "m/44'/501'/0'/0'"

// checkDappSign applies the rules above to a sign request.
func (s *Server) checkDappSign(ctx context.Context, a *auth, origin string, p *policy.SignParams) error {
	var msg *siwe.Message
	kind := "Sign-In with Ethereum"
	switch {
	case p.Scheme == api.SchemeEthPersonal && siwe.Looks(string(p.Message)):
		var err error
		if msg, err = siwe.Parse(string(p.Message)); err != nil {
			return apiErr(http.StatusBadRequest, CodeInvalidRequest, "a malformed Sign-In with Ethereum message: "+strings.TrimPrefix(err.Error(), "siwe: "))
		}
	case p.Scheme == api.SchemeEd25519 && siwe.LooksSolana(string(p.Message)):
		var err error
		kind = "Sign In With Solana"
		if msg, err = siwe.ParseSolana(string(p.Message)); err != nil {
			return apiErr(http.StatusBadRequest, CodeInvalidRequest, "a malformed Sign In With Solana message: "+strings.TrimPrefix(err.Error(), "siwe: "))
		}
	}
	if origin == "" {
		return nil
	}
	if _, err := parseWebOrigin(origin); err != nil {
		return err
	}
	if !dappSchemes[p.Scheme] {
		return apiErr(http.StatusForbidden, CodeForbidden, "a site may not ask for a "+p.Scheme+" signature: the wallet signs raw digests only for its own user, who can see what they are")
	}
	if p.Scheme == api.SchemeEd25519 && p.Path != solanaPath {
		return apiErr(http.StatusForbidden, CodeForbidden, "a site may ask for ed25519 signatures of the Solana account ("+solanaPath+") only")
	}
	site, _, err := s.checkSite(ctx, a.user.ID, origin)
	if err != nil {
		return err
	}
	if site.Verdict == string(phishing.Block) {
		return apiErr(http.StatusForbidden, CodeForbidden, "the wallet does not sign for "+origin+": "+site.Explanation)
	}
	if site.App == nil {
		return apiErr(http.StatusForbidden, CodeForbidden, origin+" is not the origin of a registered, verified app")
	}
	if msg != nil {
		addrs, err := s.db.ListAddresses(ctx, a.user.ID)
		if err != nil {
			return err
		}
		chain := "ethereum"
		if msg.Account == siwe.Solana {
			chain = "solana"
		}
		account := ""
		for _, ad := range addrs {
			if ad.Path == p.Path && ad.Chain == chain {
				account = ad.Address
			}
		}
		if account == "" {
			return apiErr(http.StatusBadRequest, CodeInvalidRequest, "a "+kind+" message must be signed by a wallet account the server lists (path "+p.Path+" is not one)")
		}
		if err := msg.Check(origin, account, s.now()); err != nil {
			return apiErr(http.StatusForbidden, CodeForbidden, "the wallet does not sign this "+kind+" message: "+strings.TrimPrefix(err.Error(), "siwe: "))
		}
	}
	return nil
}
