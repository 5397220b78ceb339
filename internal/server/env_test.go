package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/apps"
	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/internal/devmail"
	"github.com/niomon/niomon/internal/mail"
	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/pgtest"
	"github.com/niomon/niomon/internal/phishing"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/server"
	"github.com/niomon/niomon/internal/sqldb"
	"github.com/niomon/niomon/internal/testcluster"
	"github.com/niomon/niomon/secretd"
)

// env is a running niomon server on real parts: a secretd cluster
// (enclave and runner), a SQLite or PostgreSQL database, an SMTP server
// (the dev mailbox) that receives the server's mail over SMTP, and HTTPS
// on loopback under the name example.com (the test certificate's name,
// and a domain WebAuthn accepts as RP ID).
type env struct {
	t       testing.TB
	srv     *server.Server
	ts      *httptest.Server
	url     string // https://example.com:PORT
	mbox    *devmail.Mailbox
	sender  mail.Sender // to mbox
	db      *authdb.DB
	dbc     sqldb.Config // to open the database beside the server
	cluster *testcluster.Cluster
	sd      *secretd.Client
	offset  atomic.Int64 // the server's clock is time.Now() + offset
	logs    *syncBuffer
}

type envOptions struct {
	postgres bool
	config   func(*server.Config)
	// httpClient for the server's own outgoing requests (OIDC).
	httpClient *http.Client
	// verifier checks developers' domain proofs.
	verifier *apps.Verifier
	// phishing judges sites (nil: the server's own, of verified apps).
	phishing *phishing.Checker
	// newErr, when set, receives server.New's error instead of failing
	// the test.
	newErr *error
	// builtin apps (niomon dev's demo dApp).
	builtin []authdb.App
}

// syncBuffer collects the server's log for the no-secrets-in-logs checks.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, logs: &syncBuffer{}}
	e.cluster = testcluster.Start(t, testcluster.Options{})
	e.sd = e.cluster.Dial(t, secretd.Options{})

	dbc := sqldb.Config{SQLitePath: t.TempDir() + "/niomon.db"}
	if o.postgres {
		dbc = sqldb.Config{PostgresDSN: pgtest.NewSchema(t)}
	}
	e.dbc = dbc
	db, err := authdb.Open(ctx, dbc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.db = db

	mbox, err := devmail.Start(ctx, "127.0.0.1:0", devmail.WithMaxMessages(100000))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mbox.Close() })
	e.mbox = mbox
	_, p, _ := net.SplitHostPort(mbox.Addr())
	port, _ := strconv.Atoi(p)
	e.sender, err = mail.NewSMTP(mail.SMTPConfig{Host: "127.0.0.1", Port: port, TLS: mail.TLSNone, From: "Niomon <no-reply@example.com>"})
	if err != nil {
		t.Fatal(err)
	}

	tokens, _, err := server.NewTokenKey()
	if err != nil {
		t.Fatal(err)
	}
	e.ts = httptest.NewUnstartedServer(nil)
	e.ts.StartTLS()
	t.Cleanup(e.ts.Close)
	_, tsPort, _ := net.SplitHostPort(e.ts.Listener.Addr().String())
	e.url = "https://example.com:" + tsPort
	cfg := server.DevConfig(e.url)
	if o.config != nil {
		o.config(cfg)
	}
	e.srv, err = server.New(ctx, server.Options{
		Config: cfg, DB: db, Mail: e.sender, Secretd: e.sd, Tokens: tokens,
		Log:         slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:         func() time.Time { return time.Now().Add(time.Duration(e.offset.Load())) },
		HTTPClient:  o.httpClient,
		AppVerifier: o.verifier,
		Phishing:    o.phishing,
		BuiltinApps: o.builtin,
	})
	if err != nil && o.newErr != nil {
		*o.newErr = err
		return e
	}
	if err != nil {
		t.Fatal(err)
	}
	e.ts.Config.Handler = e.srv
	return e
}

// advance moves the server's clock.
func (e *env) advance(d time.Duration) { e.offset.Add(int64(d)) }

// httpClient talks to the server as a browser would: TLS trusting the
// test certificate, example.com resolving to the server, a cookie jar,
// and no redirects followed.
func (e *env) httpClient() *http.Client {
	tr := e.ts.Client().Transport.(*http.Transport).Clone()
	addr := e.ts.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, a string) (net.Conn, error) {
		if h, _, _ := net.SplitHostPort(a); h == "example.com" {
			a = addr
		}
		return (&net.Dialer{}).DialContext(ctx, network, a)
	}
	tr.TLSClientConfig = &tls.Config{RootCAs: e.ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs, ServerName: "example.com"}
	jar, _ := cookiejar.New(nil)
	return &http.Client{Transport: tr, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// client is an API client with its own cookie jar.
func (e *env) client() *nioapi.Client { return nioapi.NewClient(e.url, e.httpClient()) }

var (
	codeRe = regexp.MustCompile(`(?m)^\s+(\d{6}|[0-9A-Z]{5}-[0-9A-Z]{5})\s*$`)
	linkRe = regexp.MustCompile(`https://\S+/auth/email/link\?token=[A-Za-z0-9_\-%]+`)
)

// mail waits for the next sign-in mail to addr and returns the code and
// the link read out of it.
func (e *env) mail(addr string) (code, link string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := e.mbox.Wait(ctx, addr)
	if err != nil {
		e.t.Fatalf("no mail to %s: %v", addr, err)
	}
	if regexp.MustCompile(`\d{6}`).MatchString(m.Subject) {
		e.t.Errorf("the subject %q carries digits; the code must not be in it", m.Subject)
	}
	c := codeRe.FindStringSubmatch(m.Text)
	l := linkRe.FindString(m.Text)
	if c == nil || l == "" {
		e.t.Fatalf("no code or link in the mail text")
	}
	return c[1], l
}

// emailSignIn signs addr in with a code read from the mail it received.
func (e *env) emailSignIn(c *nioapi.Client, addr string, bearer bool) *nioapi.Session {
	e.t.Helper()
	ctx := context.Background()
	st, err := c.EmailStart(ctx, addr)
	if err != nil {
		e.t.Fatalf("email start: %v", err)
	}
	code, _ := e.mail(addr)
	s, err := c.EmailVerify(ctx, st.FlowID, code, bearer)
	if err != nil {
		e.t.Fatalf("email verify: %v", err)
	}
	return s
}

// createWallet makes the signed-in user's wallet with key as its first
// credential.
func (e *env) createWallet(c *nioapi.Client, userID string, key nioapi.Signer) *nioapi.WalletCreated {
	e.t.Helper()
	ctx := context.Background()
	cfg, err := c.Config(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	req, err := nioapi.NewRequest(cfg, policy.MethodCreate, userID, policy.CreateParams{Words: 24, Credentials: []policy.Credential{key.Credential()}})
	if err != nil {
		e.t.Fatal(err)
	}
	st, err := nioapi.StampWith(key, req)
	if err != nil {
		e.t.Fatal(err)
	}
	var out nioapi.WalletCreated
	if err := c.Post(ctx, "/v1/wallet", st, &out); err != nil {
		e.t.Fatalf("create wallet: %v", err)
	}
	return &out
}

// stamped builds, stamps and posts a request for userID's wallet.
// proofs are the stamps of credentials a policy change adds.
func (e *env) stamped(c *nioapi.Client, userID string, key nioapi.Signer, path, method string, params, out any, proofs ...nioapi.Signer) error {
	e.t.Helper()
	ctx := context.Background()
	cfg, err := c.Config(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	req, err := nioapi.NewRequest(cfg, method, userID, params)
	if err != nil {
		e.t.Fatal(err)
	}
	st, err := nioapi.StampWith(key, req)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := nioapi.ProveWith(st, proofs...); err != nil {
		e.t.Fatal(err)
	}
	return c.Post(ctx, path, st, out)
}

// raw sends a request and returns the status, headers and body.
func (e *env) raw(hc *http.Client, method, path string, body string, header map[string]string) (int, http.Header, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// apiError decodes an error answer.
func apiError(t testing.TB, b []byte) nioapi.ErrorBody {
	t.Helper()
	var eb nioapi.ErrorBody
	if err := json.Unmarshal(b, &eb); err != nil || eb.Error.Code == "" {
		t.Fatalf("not an API error body: %q", b)
	}
	return eb
}

// errCode is the API error code of err ("" if it is not an API error).
func errCode(err error) string {
	if ae, ok := err.(*nioapi.Error); ok {
		return ae.Code
	}
	return ""
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
