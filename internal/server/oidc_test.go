package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/server"
)

// provider is zitadel's example OpenID Provider, a maintained test
// provider, running on loopback: the niomon server talks to it with
// go-oidc and x/oauth2, and the test drives its login page like a browser.
type provider struct {
	ts     *httptest.Server
	issuer string
}

func startProvider(t *testing.T) *provider {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	issuer := "http://" + ts.Listener.Addr().String() + "/"
	st := storage.NewStorage(storage.NewUserStore(issuer))
	ts.Config.Handler = exampleop.SetupServer(issuer, st, slog.New(slog.DiscardHandler), false, op.WithAllowInsecure())
	ts.Start()
	t.Cleanup(ts.Close)
	return &provider{ts: ts, issuer: issuer}
}

// oidcEnv is a niomon server configured with the provider as "test".
func oidcEnv(t *testing.T) (*env, *provider) {
	t.Helper()
	p := startProvider(t)
	secret := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(secret, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var e *env
	e = newEnv(t, envOptions{config: func(c *server.Config) {
		c.OIDC = []server.OIDCProvider{{Name: "test", Issuer: p.issuer, ClientID: "niomon-test", ClientSecretFile: secret}}
		storage.RegisterClients(storage.WebClient("niomon-test", "secret", c.PublicURL+"/v1/auth/oidc/test/callback"))
	}})
	return e, p
}

var formActionRe = regexp.MustCompile(`name="id" value="([^"]+)"`)

// browse follows a sign-in through the provider as a browser: redirects
// (bounded), the provider's login form with username and password, and
// back to niomon's callback. It returns the last answer.
func browse(t *testing.T, hc *http.Client, start *http.Request, username string) (*http.Response, []byte) {
	t.Helper()
	req := start
	for range 12 {
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			next, err := req.URL.Parse(resp.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			if req, err = http.NewRequest("GET", next.String(), nil); err != nil {
				t.Fatal(err)
			}
		case resp.StatusCode == 200 && strings.Contains(string(body), `name="password"`):
			m := formActionRe.FindSubmatch(body)
			if m == nil {
				t.Fatalf("the provider's login page has no request id")
			}
			form := url.Values{"id": {string(m[1])}, "username": {username}, "password": {"verysecure"}}
			action, _ := req.URL.Parse("/login/username")
			req, _ = http.NewRequest("POST", action.String(), strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		default:
			return resp, body
		}
	}
	t.Fatal("too many redirects")
	return nil, nil
}

// oidcSignIn signs in a fresh browser through the provider and returns
// the niomon user it lands as.
func oidcSignIn(t *testing.T, e *env, username string) (*http.Client, *nioapi.Session) {
	t.Helper()
	hc := e.httpClient()
	start, _ := http.NewRequest("GET", e.url+"/v1/auth/oidc/test/start", nil)
	resp, body := browse(t, hc, start, username)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Signed in as") {
		t.Fatalf("after the provider: %d %s", resp.StatusCode, body)
	}
	status, _, b := e.raw(hc, "GET", "/v1/session", "", nil)
	var s nioapi.Session
	if status != 200 || json.Unmarshal(b, &s) != nil {
		t.Fatalf("session after OIDC: %d %s", status, b)
	}
	return hc, &s
}

func TestOIDC_SignUpThenSignInReachTheSameUser(t *testing.T) {
	e, p := oidcEnv(t)
	user := "test-user@" + strings.Split(strings.TrimPrefix(p.issuer, "http://"), ":")[0]
	_, first := oidcSignIn(t, e, user)
	if first.User.State != "pending" {
		t.Fatalf("first sign-in: got %+v, want a new pending user", first.User)
	}
	_, again := oidcSignIn(t, e, user)
	if again.User.ID != first.User.ID {
		t.Fatalf("second sign-in: user %s, want %s", again.User.ID, first.User.ID)
	}
	_, other := oidcSignIn(t, e, "test-user2")
	if other.User.ID == first.User.ID {
		t.Fatal("another provider account reached the same user")
	}
}

func TestOIDC_AccountsAreNeverJoinedByEmailButLinkedOnProof(t *testing.T) {
	e, _ := oidcEnv(t)
	ctx := context.Background()
	// An email account with the provider account's address exists.
	hc, es := cookieSession(t, e, "test-user2@zitadel.ch")
	_, viaOIDC := oidcSignIn(t, e, "test-user2")
	if viaOIDC.User.ID == es.User.ID {
		t.Fatal("the provider account was joined to the email account by its address")
	}

	// Linking needs both: the signed-in session here, and a sign-in at
	// the provider. The already-linked test-user2 is refused.
	linkWith := func(username string) (int, []byte) {
		c := nioapi.NewClient(e.url, hc)
		s, err := c.Me(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			URL string `json:"url"`
		}
		status, _, b := e.raw(hc, "POST", "/v1/auth/oidc/test/link", "{}", map[string]string{
			"Content-Type": "application/json", "X-CSRF-Token": s.CSRFToken, "Origin": e.url})
		if status != 200 || json.Unmarshal(b, &out) != nil {
			t.Fatalf("link start: %d %s", status, b)
		}
		req, _ := http.NewRequest("GET", out.URL, nil)
		resp, body := browse(t, hc, req, username)
		return resp.StatusCode, body
	}
	if status, body := linkWith("test-user2"); status != http.StatusConflict || !strings.Contains(string(body), "linked to another") {
		t.Fatalf("linking an account that belongs to another user: %d, want 409", status)
	}
	user := "test-user@127.0.0.1"
	if status, _ := linkWith(user); status != 200 {
		t.Fatalf("linking a free provider account: %d, want the home page", status)
	}
	_, linked := oidcSignIn(t, e, user)
	if linked.User.ID != es.User.ID {
		t.Fatalf("sign-in with the linked account: user %s, want the email user %s", linked.User.ID, es.User.ID)
	}
}

func TestOIDC_CallbackRefusesWhatThisBrowserDidNotStart(t *testing.T) {
	e, p := oidcEnv(t)
	user := "test-user@" + strings.Split(strings.TrimPrefix(p.issuer, "http://"), ":")[0]
	// Stop a real flow just before niomon's callback.
	hc := e.httpClient()
	req, _ := http.NewRequest("GET", e.url+"/v1/auth/oidc/test/start", nil)
	var callback *url.URL
	for range 12 {
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			next, _ := req.URL.Parse(resp.Header.Get("Location"))
			if strings.Contains(next.Path, "/v1/auth/oidc/test/callback") {
				callback = next
				break
			}
			req, _ = http.NewRequest("GET", next.String(), nil)
			continue
		}
		m := formActionRe.FindSubmatch(body)
		if m == nil {
			t.Fatalf("unexpected page %d", resp.StatusCode)
		}
		form := url.Values{"id": {string(m[1])}, "username": {user}, "password": {"verysecure"}}
		action, _ := req.URL.Parse("/login/username")
		req, _ = http.NewRequest("POST", action.String(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if callback == nil {
		t.Fatal("the flow never reached the callback")
	}
	tampered := *callback
	q := tampered.Query()
	q.Set("state", q.Get("state")+"x")
	tampered.RawQuery = q.Encode()
	tests := []struct {
		name   string
		client *http.Client
		u      *url.URL
	}{
		{"another browser (no flow cookie) with the real code and state", e.httpClient(), callback},
		{"this browser with a changed state", hc, &tampered},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := e.raw(tc.client, "GET", tc.u.RequestURI(), "", nil)
			if status != http.StatusBadRequest || strings.Contains(h.Get("Set-Cookie"), "niomon_session=nios_") {
				t.Fatalf("got %d (session cookie set: %t) %s, want 400 and no session", status, strings.Contains(h.Get("Set-Cookie"), "niomon_session=nios_"), body)
			}
		})
	}
}
