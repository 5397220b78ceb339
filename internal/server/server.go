// Package server is the niomon HTTP server: Niomon Auth (passwordless
// sign-up and sign-in by email code or link, passkeys, OIDC providers and
// API keys), sessions, and the wallet API that relays users' stamped
// requests to secretd.
//
// The server holds no credential that can use a key. It checks who is
// signed in and that a request names that user's wallet; secretd checks
// the stamp against the wallet's own sealed policy (DESIGN.md invariant 2).
package server

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/niomon/niomon/internal/apps"
	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/internal/mail"
	"github.com/niomon/niomon/internal/oidcop"
	"github.com/niomon/niomon/internal/phishing"
	"github.com/niomon/niomon/secretd"
	"github.com/niomon/niomon/web"
)

// Options are what a Server runs on. Config must have passed Validate (or
// come from DevConfig).
type Options struct {
	Config  *Config
	DB      *authdb.DB
	Mail    mail.Sender
	Secretd *secretd.Client
	Tokens  *TokenKey
	Log     *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// DevMailbox, when set, is served at /dev/mailbox/ (niomon dev only).
	DevMailbox http.Handler
	// HTTPClient makes the server's own requests to OIDC providers
	// (discovery, token, keys). nil: a client with a 10 s timeout.
	HTTPClient *http.Client
	// Phishing judges the sites the server answers for (OIDC redirects,
	// sign requests). nil: a checker of the verified apps alone.
	Phishing *phishing.Checker
	// AppVerifier checks developers' domain proofs. nil: apps.NewVerifier
	// (the system resolver; HTTPS to public addresses only).
	AppVerifier *apps.Verifier
	// BuiltinApps are apps the server knows without the database, each
	// verified at every origin it names: niomon dev's demo dApp. A real
	// deployment has none; its apps are registered and vetted.
	BuiltinApps []authdb.App
	// BuiltinIcons are the built-in apps' icons, by app id.
	BuiltinIcons map[string]apps.Icon
}

// Server is the niomon HTTP server.
type Server struct {
	cfg      *Config
	db       *authdb.DB
	mail     mail.Sender
	sd       *secretd.Client
	tokens   *TokenKey
	log      *slog.Logger
	now      func() time.Time
	origin   string // scheme://host[:port] of PublicURL
	secure   bool   // cookies get Secure
	hsts     bool   // answers carry Strict-Transport-Security (https public URL)
	wa       *webauthn.WebAuthn
	oidc     map[string]*oidcProvider
	keysMu   sync.Mutex // guards cluster and receipt, learned once (clusterKeys)
	cluster  []byte
	receipt  ed25519.PublicKey
	hc       *http.Client
	devMail  http.Handler
	assets   map[string]web.Asset // the wallet's script and stylesheet, by name
	handler  http.Handler
	sealKeys flowKeys
	limits   limits
	proxies  []netip.Prefix   // Config.TrustedProxies
	ready    readiness        // the last /readyz answer
	op       *oidcop.Provider // "Login with Niomon"
	phish    *phishing.Checker
	builtin  []authdb.App
	icons    iconCache
	bicons   map[string]apps.Icon
	verifier *apps.Verifier
	// phishLists is the state of the configured phishing lists.
	phishLists phishState
}

// New checks opts, reads the cluster's public keys from secretd, and
// builds the routes. It does not listen.
func New(ctx context.Context, opts Options) (*Server, error) {
	if opts.Config == nil || opts.DB == nil || opts.Mail == nil || opts.Secretd == nil || opts.Tokens == nil {
		return nil, errors.New("server: Config, DB, Mail, Secretd and Tokens are required")
	}
	s := &Server{
		cfg: opts.Config, db: opts.DB, mail: opts.Mail, sd: opts.Secretd, tokens: opts.Tokens,
		log: opts.Log, now: opts.Now, hc: opts.HTTPClient, devMail: opts.DevMailbox, assets: web.Assets(),
		phish: opts.Phishing, verifier: opts.AppVerifier, builtin: opts.BuiltinApps, bicons: opts.BuiltinIcons,
	}
	if s.verifier == nil {
		s.verifier = apps.NewVerifier()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.hc == nil {
		s.hc = &http.Client{Timeout: 10 * time.Second}
	}
	s.cfg.defaults()
	u, err := url.Parse(s.cfg.PublicURL)
	if err != nil || u.Host == "" {
		return nil, &SettingError{"public_url", "want an absolute URL"}
	}
	s.origin = u.Scheme + "://" + u.Host
	s.secure = u.Scheme == "https" || isLoopbackHost(u.Hostname())
	s.hsts = u.Scheme == "https"
	if s.cfg.RPID == "" {
		s.cfg.RPID = u.Hostname()
	}
	s.sealKeys = newFlowKeys(s.tokens)
	if s.limits, err = newLimits(s.cfg.RateLimits); err != nil {
		return nil, err
	}
	if s.proxies, err = parseProxies(s.cfg.TrustedProxies); err != nil {
		return nil, err
	}

	// secretd may not answer yet: the keys are then learned on first use,
	// and key-using routes answer 503 until it does.
	if _, _, err := s.clusterKeys(ctx); err != nil && !errors.Is(err, secretd.ErrConnection) {
		return nil, err
	}

	s.wa, err = webauthn.New(&webauthn.Config{
		RPID:          s.cfg.RPID,
		RPDisplayName: "Niomon",
		RPOrigins:     []string{s.origin},
	})
	if err != nil {
		return nil, fmt.Errorf("server: webauthn: %w", err)
	}
	if err := s.setupOIDC(ctx); err != nil {
		return nil, err
	}
	if err := s.setupProvider(); err != nil {
		return nil, fmt.Errorf("server: the OpenID Provider: %w", err)
	}
	if err := s.setupPhishing(ctx); err != nil {
		return nil, err
	}
	s.handler = s.common(s.routes())
	return s, nil
}

// ServeHTTP serves the API and pages.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// access is who may call a route.
type access int

const (
	public access = iota // anyone
	user                 // a signed-in user (cookie with CSRF token, or bearer)
)

// handlerFunc is a route's body. It returns an *APIError (answered as it
// is) or another error (logged and answered "internal").
type handlerFunc func(s *Server, w http.ResponseWriter, r *http.Request, a *auth) error

// route is one entry of the API: the OpenAPI document (docs/openapi.json)
// lists exactly these, which a test checks.
type route struct {
	Method string
	Path   string // ServeMux pattern path, e.g. /v1/sessions/{id}
	Access access
	API    bool // part of the JSON API (documented in openapi.json)
	h      handlerFunc
}

// Routes is the route table.
func routeTable() []route {
	return []route{
		{"GET", "/v1/config", public, true, (*Server).getConfig},
		{"GET", "/v1/attestation", public, true, (*Server).getAttestation},

		{"POST", "/v1/auth/email/start", public, true, (*Server).emailStart},
		{"POST", "/v1/auth/email/verify", public, true, (*Server).emailVerify},
		{"POST", "/v1/auth/email/link", public, true, (*Server).emailLink},
		{"GET", "/auth/email/link", public, false, (*Server).emailLinkPage},
		{"POST", "/auth/email/link", public, false, (*Server).emailLinkForm},

		{"POST", "/v1/auth/apikey/challenge", public, true, (*Server).apiKeyChallenge},
		{"POST", "/v1/auth/apikey/signup", public, true, (*Server).apiKeySignup},
		{"POST", "/v1/auth/apikey/login", public, true, (*Server).apiKeyLogin},
		{"POST", "/v1/apikeys", user, true, (*Server).apiKeyAdd},

		{"POST", "/v1/auth/passkey/signup/begin", public, true, (*Server).passkeySignupBegin},
		{"POST", "/v1/auth/passkey/signup/finish", public, true, (*Server).passkeySignupFinish},
		{"POST", "/v1/auth/passkey/login/begin", public, true, (*Server).passkeyLoginBegin},
		{"POST", "/v1/auth/passkey/login/finish", public, true, (*Server).passkeyLoginFinish},
		{"POST", "/v1/passkeys/begin", user, true, (*Server).passkeyAddBegin},
		{"POST", "/v1/passkeys/finish", user, true, (*Server).passkeyAddFinish},
		{"GET", "/v1/passkeys", user, true, (*Server).passkeyList},

		{"GET", "/v1/auth/oidc/{provider}/start", public, true, (*Server).oidcStart},
		{"GET", "/v1/auth/oidc/{provider}/callback", public, true, (*Server).oidcCallback},
		{"POST", "/v1/auth/oidc/{provider}/callback", public, true, (*Server).oidcCallback},
		{"POST", "/v1/auth/oidc/{provider}/link", user, true, (*Server).oidcLinkStart},

		{"GET", "/v1/session", user, true, (*Server).getSession},
		{"POST", "/v1/session/logout", user, true, (*Server).logout},
		{"GET", "/v1/sessions", user, true, (*Server).listSessions},
		{"POST", "/v1/sessions/{id}/revoke", user, true, (*Server).revokeSession},
		{"GET", "/v1/devices", user, true, (*Server).listDevices},
		{"GET", "/v1/activity", user, true, (*Server).activity},
		{"POST", "/v1/devices/revoke", user, true, (*Server).revokeDevice},
		{"POST", "/v1/devices/name", user, true, (*Server).nameDevice},
		{"POST", "/v1/pairings", user, true, (*Server).pairingStart},
		{"GET", "/v1/pairings/{id}", user, true, (*Server).pairingGet},
		{"DELETE", "/v1/pairings/{id}", user, true, (*Server).pairingDelete},
		{"GET", "/v1/pairings/code/{code}", user, true, (*Server).pairingByCode},
		{"POST", "/v1/pairings/code/{code}/approve", user, true, (*Server).pairingApprove},

		{"POST", "/v1/apps", user, true, (*Server).createApp},
		{"GET", "/v1/apps", user, true, (*Server).listApps},
		{"GET", "/v1/apps/lookup", user, true, (*Server).lookupSite},
		{"GET", "/v1/apps/{id}", user, true, (*Server).getApp},
		{"GET", "/v1/apps/{id}/icon", user, true, (*Server).appIcon},
		{"POST", "/v1/apps/{id}/origins/verify", user, true, (*Server).verifyOrigin},
		{"POST", "/v1/apps/{id}/client-secret", user, true, (*Server).newClientSecret},
		{"GET", "/v1/admin/apps", user, true, (*Server).adminListApps},
		{"POST", "/v1/admin/apps/{id}/status", user, true, (*Server).adminSetAppStatus},
		{"GET", "/v1/admin/phishing", user, true, (*Server).adminPhishing},
		{"POST", "/v1/admin/phishing/lists/{name}/diff", user, true, (*Server).adminPhishingDiff},
		{"POST", "/v1/admin/phishing/lists/{name}/sync", user, true, (*Server).adminPhishingSync},
		{"POST", "/v1/admin/phishing/overrides", user, true, (*Server).adminPutOverride},
		{"DELETE", "/v1/admin/phishing/overrides/{host}", user, true, (*Server).adminDeleteOverride},

		{"POST", "/v1/wallet", user, true, (*Server).createWallet},
		{"POST", "/v1/wallet/import", user, true, (*Server).importWallet},
		{"GET", "/v1/wallet/import-key", user, true, (*Server).importKey},
		{"GET", "/v1/wallet", user, true, (*Server).getWallet},
		{"POST", "/v1/wallet/sign", user, true, (*Server).sign},
		{"POST", "/v1/wallet/export", user, true, (*Server).export},
		{"GET", "/v1/wallet/policy", user, true, (*Server).getPolicy},
		{"POST", "/v1/wallet/policy", user, true, (*Server).updatePolicy},

		{"GET", loginPath, public, false, (*Server).oidcLoginPage},
		{"POST", loginPath, public, false, (*Server).oidcLoginForm},

		{"GET", "/{$}", public, false, (*Server).home},
		{"GET", "/dapp", public, false, (*Server).home}, // Ditto answering a dApp (sdk/js)
		{"GET", "/assets/{name}", public, false, (*Server).asset},
		{"GET", "/healthz", public, false, (*Server).healthz},
		{"GET", "/readyz", public, false, (*Server).readyz},
	}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range routeTable() {
		mux.Handle(rt.Method+" "+rt.Path, s.wrap(rt))
	}
	if s.devMail != nil {
		mux.Handle("/dev/mailbox/", http.StripPrefix("/dev/mailbox", s.devMail))
	}
	mux.Handle(oidcop.IssuerPath+"/", s.oidcGate(http.StripPrefix(oidcop.IssuerPath, s.op.Handler())))
	// A path the table has, asked with another method, is answered 405
	// with the methods it allows; anything else is 404.
	byPath := http.NewServeMux()
	allowed := map[string][]string{}
	for _, rt := range routeTable() {
		if allowed[rt.Path] == nil {
			path := rt.Path
			byPath.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Allow", strings.Join(allowed[path], ", "))
				s.writeError(w, r, errMethod)
			})
		}
		allowed[rt.Path] = append(allowed[rt.Path], rt.Method)
		if rt.Method == http.MethodGet {
			allowed[rt.Path] = append(allowed[rt.Path], http.MethodHead) // the mux serves HEAD as GET
		}
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if h, pattern := byPath.Handler(r); pattern != "" {
			h.ServeHTTP(w, r)
			return
		}
		s.writeError(w, r, errNotFound)
	})
	return mux
}

// wrap applies a route's access rule, the same-origin check and CSRF
// protection, and turns returned errors into answers.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.serve(rt, w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Server) serve(rt route, w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	unsafe := r.Method != http.MethodGet && r.Method != http.MethodHead
	// A cross-site page cannot make a signed-in browser act here: state
	// changes need a same-origin Origin (when the browser sends one) and,
	// with a cookie, the session's CSRF token. The OIDC callback is the
	// one cross-site POST (response_mode=form_post); its own state check
	// protects it.
	if unsafe && !strings.HasSuffix(rt.Path, "/callback") {
		if o := r.Header.Get("Origin"); o != "" && o != s.origin {
			return apiErr(http.StatusForbidden, CodeForbidden, "cross-origin request refused")
		}
		if rt.API && r.ContentLength != 0 && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			return apiErr(http.StatusUnsupportedMediaType, CodeInvalidRequest, "want Content-Type: application/json")
		}
	}
	var a *auth
	if rt.Access == user {
		var err error
		if a, err = s.authenticate(w, r); err != nil {
			return err
		}
		if unsafe && a.sess.Kind == authdb.SessionCookie && !s.csrfOK(a, r.Header.Get("X-CSRF-Token")) {
			return errCSRF
		}
	}
	return rt.h(s, w, r, a)
}

// RouteInfo describes one route for documentation checks.
type RouteInfo struct {
	Method, Path string
	SignedIn     bool // needs a session
	API          bool // part of the JSON API (docs/openapi.json)
}

// Routes lists the server's routes.
func Routes() []RouteInfo {
	var out []RouteInfo
	for _, r := range routeTable() {
		out = append(out, RouteInfo{Method: r.Method, Path: r.Path, SignedIn: r.Access == user, API: r.API})
	}
	return out
}

// clusterKeys returns the secretd cluster's identity and receipt key,
// asking the cluster the first time. They do not change for a cluster.
// The lock is not held across the call: while secretd is away, requests
// must not queue behind one another's dial timeouts.
func (s *Server) clusterKeys(ctx context.Context) ([]byte, ed25519.PublicKey, error) {
	s.keysMu.Lock()
	cluster, receipt := s.cluster, s.receipt
	s.keysMu.Unlock()
	if receipt != nil {
		return cluster, receipt, nil
	}
	info, err := s.sd.Info(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("server: reading the secretd cluster's keys: %w", err)
	}
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	s.cluster, s.receipt = info.ClusterIdentity, info.ReceiptKey
	return s.cluster, s.receipt, nil
}

// receiptKey is the cluster's receipt key (clusterKeys).
func (s *Server) receiptKey(ctx context.Context) (ed25519.PublicKey, error) {
	_, rk, err := s.clusterKeys(ctx)
	return rk, err
}
