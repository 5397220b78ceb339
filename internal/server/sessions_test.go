package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/server"
	"github.com/niomon/niomon/secretd"
)

// cookieSession signs addr in through the API with a cookie session and
// returns the browser-like HTTP client and the CSRF token.
func cookieSession(t *testing.T, e *env, addr string) (*http.Client, *nioapi.Session) {
	t.Helper()
	hc := e.httpClient()
	c := nioapi.NewClient(e.url, hc)
	s := e.emailSignIn(c, addr, false)
	if s.Token != "" || s.CSRFToken == "" {
		t.Fatalf("cookie sign-in: got token %t, csrf %t; want a cookie and a CSRF token", s.Token != "", s.CSRFToken != "")
	}
	return hc, s
}

func TestCookieSession_StateChangesNeedTheCSRFTokenAndTheSameOrigin(t *testing.T) {
	e := newEnv(t, envOptions{})
	hc, s := cookieSession(t, e, "csrf@example.com")
	json := map[string]string{"Content-Type": "application/json"}
	// A token that differs from the right one in its first character,
	// whatever that character is.
	wrong := "x" + s.CSRFToken[1:]
	if s.CSRFToken[0] == 'x' {
		wrong = "y" + s.CSRFToken[1:]
	}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{"Content-Type": "application/json"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name     string
		header   map[string]string
		wantCode int
	}{
		{"no CSRF token", json, http.StatusForbidden},
		{"a wrong CSRF token", with(map[string]string{"X-CSRF-Token": wrong}), http.StatusForbidden},
		{"the right token from another origin", with(map[string]string{"X-CSRF-Token": s.CSRFToken, "Origin": "https://evil.example"}), http.StatusForbidden},
		{"the right token as a form post", map[string]string{"Content-Type": "text/plain", "X-CSRF-Token": s.CSRFToken}, http.StatusUnsupportedMediaType},
		{"the right token, same origin", with(map[string]string{"X-CSRF-Token": s.CSRFToken, "Origin": e.url}), http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Revoking an unknown session id is a harmless state change
			// to probe with: 404 when let through, 403/415 when not.
			status, _, b := e.raw(hc, "POST", "/v1/sessions/"+strings.Repeat("ab", 32)+"/revoke", "{}", tc.header)
			want := tc.wantCode
			if want == http.StatusOK {
				want = http.StatusNotFound
			}
			if status != want {
				t.Fatalf("got %d %s, want %d", status, b, want)
			}
		})
	}
	// Reads need no token.
	if status, _, _ := e.raw(hc, "GET", "/v1/sessions", "", nil); status != 200 {
		t.Fatalf("GET /v1/sessions with the cookie: %d", status)
	}
}

func TestSessions_ListRevokeAndLogout(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	a := e.client()
	sa := e.emailSignIn(a, "multi@example.com", true)
	b := e.client()
	e.emailSignIn(b, "multi@example.com", true)

	var list []nioapi.SessionInfo
	if err := a.Do(ctx, "GET", "/v1/sessions", nil, &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("sessions: got %d, want 2", len(list))
	}
	var other string
	for _, s := range list {
		if !s.Current {
			other = s.ID
		}
	}
	var rv nioapi.Revoked
	if err := a.Do(ctx, "POST", "/v1/sessions/"+other+"/revoke", struct{}{}, &rv); err != nil || !rv.Revoked {
		t.Fatalf("revoke: %v %+v", err, rv)
	}
	if _, err := b.Me(ctx); errCode(err) != server.CodeUnauthorized {
		t.Fatalf("the revoked session: got %v, want %s", err, server.CodeUnauthorized)
	}
	// Another user's session cannot be revoked (nor seen).
	c := e.client()
	e.emailSignIn(c, "someone@example.com", true)
	var theirs []nioapi.SessionInfo
	if err := c.Do(ctx, "GET", "/v1/sessions", nil, &theirs); err != nil || len(theirs) != 1 {
		t.Fatalf("other user's sessions: %v %d", err, len(theirs))
	}
	if err := a.Do(ctx, "POST", "/v1/sessions/"+theirs[0].ID+"/revoke", struct{}{}, &rv); errCode(err) != server.CodeNotFound {
		t.Fatalf("revoking another user's session: got %v, want %s", err, server.CodeNotFound)
	}
	if _, err := c.Me(ctx); err != nil {
		t.Fatalf("the other user's session after the attempt: %v", err)
	}
	if err := a.Do(ctx, "POST", "/v1/session/logout", nil, &rv); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Me(ctx); errCode(err) != server.CodeUnauthorized {
		t.Fatalf("after logout: got %v, want %s", err, server.CodeUnauthorized)
	}
	_ = sa
}

func TestSessions_ExpireWhenIdleAndAtTheirMaximumAge(t *testing.T) {
	tests := []struct {
		name    string
		advance []time.Duration // steps, each followed by a request
		wantOK  []bool
	}{
		{"activity within the idle timeout keeps a session", []time.Duration{6 * 24 * time.Hour, 6 * 24 * time.Hour}, []bool{true, true}},
		{"eight idle days end it", []time.Duration{8 * 24 * time.Hour}, []bool{false}},
		{"thirty days end it however active", []time.Duration{6 * 24 * time.Hour, 6 * 24 * time.Hour, 6 * 24 * time.Hour, 6 * 24 * time.Hour, 6 * 24 * time.Hour, 6 * 24 * time.Hour}, []bool{true, true, true, true, false, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			c := e.client()
			e.emailSignIn(c, "idle@example.com", true)
			for i, d := range tc.advance {
				e.advance(d)
				_, err := c.Me(context.Background())
				if (err == nil) != tc.wantOK[i] {
					t.Fatalf("step %d (+%v): got %v, want ok=%t", i+1, d, err, tc.wantOK[i])
				}
			}
		})
	}
}

func TestCookieSession_RotatesAndAReplayedOldTokenEndsBoth(t *testing.T) {
	e := newEnv(t, envOptions{})
	hc, _ := cookieSession(t, e, "rotate@example.com")
	oldCookie := sessionCookieOf(t, hc, e)
	e.advance(25 * time.Hour)
	status, h, b := e.raw(hc, "GET", "/v1/session", "", nil)
	if status != 200 {
		t.Fatalf("GET after a day: %d %s", status, b)
	}
	newCookie := sessionCookieOf(t, hc, e)
	if newCookie == oldCookie || h.Get("X-CSRF-Token") == "" {
		t.Fatalf("after a day the session was not rotated (new cookie %t, CSRF header %q)", newCookie != oldCookie, h.Get("X-CSRF-Token"))
	}
	var s nioapi.Session
	if err := json.Unmarshal(b, &s); err != nil || s.CSRFToken != h.Get("X-CSRF-Token") {
		t.Fatalf("the answer's CSRF token is not the rotated session's")
	}
	// Within the grace period the old token still works (requests in
	// flight); after it, it is a stolen copy: refused, and the successor
	// is revoked too.
	stale := e.httpClient()
	setSessionCookie(t, stale, e, oldCookie)
	if status, _, _ := e.raw(stale, "GET", "/v1/session", "", nil); status != 200 {
		t.Fatalf("the old token within the grace period: %d, want 200", status)
	}
	e.advance(time.Minute)
	if status, _, _ := e.raw(stale, "GET", "/v1/session", "", nil); status != 401 {
		t.Fatalf("the old token after the grace period: %d, want 401", status)
	}
	if status, _, _ := e.raw(hc, "GET", "/v1/session", "", nil); status != 401 {
		t.Fatalf("the successor after the old token was replayed: %d, want 401", status)
	}
}

// A thief whose stolen cookie has rotated more than once (it used it
// over several days) holds the newest of a chain of sessions: when the
// owner's old token is seen again, the whole chain from it ends, the
// thief's newest session with it.
func TestCookieSession_AReplayedTokenEndsEverySessionRotatedFromIt(t *testing.T) {
	for _, rotations := range []int{1, 2, 5} {
		t.Run(fmt.Sprintf("rotated %d times", rotations), func(t *testing.T) {
			e := newEnv(t, envOptions{})
			owner, _ := cookieSession(t, e, "chain@example.com")
			stolen := sessionCookieOf(t, owner, e)
			thief := e.httpClient()
			setSessionCookie(t, thief, e, stolen)
			for i := range rotations {
				e.advance(25 * time.Hour)
				if status, _, b := e.raw(thief, "GET", "/v1/session", "", nil); status != 200 {
					t.Fatalf("the thief's rotation %d: %d %s", i+1, status, b)
				}
			}
			if sessionCookieOf(t, thief, e) == stolen {
				t.Fatal("the thief's session did not rotate")
			}
			// The owner comes back with the token the thief copied.
			e.advance(time.Minute)
			if status, _, _ := e.raw(owner, "GET", "/v1/session", "", nil); status != 401 {
				t.Fatalf("the owner's rotated token: %d, want 401", status)
			}
			if status, _, _ := e.raw(thief, "GET", "/v1/session", "", nil); status != 401 {
				t.Fatalf("the thief's newest session after the replay: %d, want 401", status)
			}
		})
	}
}

func sessionCookieOf(t *testing.T, hc *http.Client, e *env) string {
	t.Helper()
	u := mustURL(t, e.url)
	for _, c := range hc.Jar.Cookies(u) {
		if c.Name == "niomon_session" {
			return c.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

func setSessionCookie(t *testing.T, hc *http.Client, e *env, v string) {
	hc.Jar.SetCookies(mustURL(t, e.url), []*http.Cookie{{Name: "niomon_session", Value: v, Path: "/"}})
}

func TestDeviceKeys_RevokingASessionWithAStampedChangeTakesItsKeyOutOfThePolicy(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	phone := e.client()
	s := e.emailSignIn(phone, "devices@example.com", true)
	phoneKey, err := secretd.NewP256Key(secretd.KindSessionKey, time.Now().Add(time.Hour), secretd.RightSign, secretd.RightExport, secretd.RightPolicy)
	if err != nil {
		t.Fatal(err)
	}
	e.createWallet(phone, s.User.ID, phoneKey)

	// A laptop signs in and is enrolled by the phone.
	laptop := e.client()
	e.emailSignIn(laptop, "devices@example.com", true)
	laptopKey, err := secretd.NewP256Key(secretd.KindSessionKey, time.Now().Add(time.Hour), secretd.RightSign)
	if err != nil {
		t.Fatal(err)
	}
	var rcpt nioapi.Receipt
	if err := e.stamped(laptop, s.User.ID, phoneKey, "/v1/wallet/policy", policy.MethodUpdatePolicy,
		policy.UpdatePolicyParams{Version: 1, Change: policy.Change{Add: []policy.Credential{laptopKey.Credential()}}}, &rcpt, laptopKey); err != nil {
		t.Fatalf("enrolling the laptop key: %v", err)
	}
	sign := func(c *nioapi.Client, k *secretd.P256Key) error {
		return e.stamped(c, s.User.ID, k, "/v1/wallet/sign", policy.MethodSign,
			policy.SignParams{Scheme: "secp256k1", Path: "m/44'/60'/0'/0/0", Digest: make([]byte, 32)}, &nioapi.SignResult{})
	}
	if err := sign(laptop, laptopKey); err != nil {
		t.Fatalf("the laptop signs: %v", err)
	}
	var list []nioapi.SessionInfo
	if err := phone.Do(ctx, "GET", "/v1/sessions", nil, &list); err != nil {
		t.Fatal(err)
	}
	var laptopSession string
	for _, si := range list {
		if len(si.DeviceKeys) == 1 && string(si.DeviceKeys[0]) == string(laptopKey.Credential().ID) {
			laptopSession = si.ID
		}
	}
	if laptopSession == "" {
		t.Fatalf("no session lists the laptop's key: %+v", list)
	}

	// A change that does not match the session's keys is refused, and
	// nothing is revoked.
	cfg, _ := phone.Config(ctx)
	mk := func(remove [][]byte, version uint64) *nioapi.Stamped {
		req, err := nioapi.NewRequest(cfg, policy.MethodUpdatePolicy, s.User.ID, policy.UpdatePolicyParams{Version: version, Change: policy.Change{Remove: remove}})
		if err != nil {
			t.Fatal(err)
		}
		st, err := nioapi.StampWith(phoneKey, req)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	var rv nioapi.Revoked
	err = phone.Do(ctx, "POST", "/v1/sessions/"+laptopSession+"/revoke", nioapi.RevokeSession{PolicyChange: mk([][]byte{phoneKey.Credential().ID}, 2)}, &rv)
	if errCode(err) != server.CodeInvalidRequest {
		t.Fatalf("a change removing another key: got %v, want %s", err, server.CodeInvalidRequest)
	}
	if err := sign(laptop, laptopKey); err != nil {
		t.Fatalf("the laptop after a refused revocation: %v", err)
	}
	if err := phone.Do(ctx, "POST", "/v1/sessions/"+laptopSession+"/revoke", nioapi.RevokeSession{PolicyChange: mk([][]byte{laptopKey.Credential().ID}, 2)}, &rv); err != nil {
		t.Fatal(err)
	}
	if len(rv.DeviceKeysRemoved) != 1 {
		t.Fatalf("revoked: %+v, want the laptop key removed", rv)
	}
	// The key is out of the policy: even through a live session (the
	// phone's), secretd refuses its stamp.
	if err := sign(phone, laptopKey); errCode(err) != server.CodeStampRefused {
		t.Fatalf("the removed key signing: got %v, want %s", err, server.CodeStampRefused)
	}
	var pr nioapi.Receipt
	if err := phone.Do(ctx, "GET", "/v1/wallet/policy", nil, &pr); err != nil {
		t.Fatal(err)
	}
	rc, err := secretd.VerifyReceipt(cfg.ReceiptKey, &policy.SignedReceipt{Receipt: pr.Receipt, Signature: pr.Signature})
	if err != nil || len(rc.Credentials) != 1 || string(rc.Credentials[0].ID) != string(phoneKey.Credential().ID) {
		t.Fatalf("policy after revocation: %v %+v, want the phone key only", err, rc)
	}
}

func TestDevices_ACredentialIsRevokedForSignInAndWalletButNeverTheLastWayIn(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	c := e.client()
	a := newAPIKey(t)
	s, err := c.APIKeySignup(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	e.createWallet(c, s.User.ID, a)
	b := newAPIKey(t)
	if _, err := c.AddAPIKey(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := e.stamped(c, s.User.ID, a, "/v1/wallet/policy", policy.MethodUpdatePolicy,
		policy.UpdatePolicyParams{Version: 1, Change: policy.Change{Add: []policy.Credential{b.Credential()}}}, &nioapi.Receipt{}, b); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client().APIKeyLogin(ctx, b); err != nil {
		t.Fatalf("the added key signs in: %v", err)
	}
	cfg, _ := c.Config(ctx)
	removal := func(id []byte, version uint64) *nioapi.Stamped {
		req, err := nioapi.NewRequest(cfg, policy.MethodUpdatePolicy, s.User.ID, policy.UpdatePolicyParams{Version: version, Change: policy.Change{Remove: [][]byte{id}}})
		if err != nil {
			t.Fatal(err)
		}
		st, err := nioapi.StampWith(a, req)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	bID := b.Credential().ID
	var rv nioapi.Revoked
	if err := c.Do(ctx, "POST", "/v1/devices/revoke", nioapi.RevokeDevice{Kind: "api_key", ID: bID, PolicyChange: removal(bID, 2)}, &rv); err != nil || len(rv.DeviceKeysRemoved) != 1 {
		t.Fatalf("revoking the added key: %v %+v", err, rv)
	}
	if _, err := e.client().APIKeyLogin(ctx, b); errCode(err) != server.CodeUnauthorized {
		t.Fatalf("the revoked key signing in: got %v, want %s", err, server.CodeUnauthorized)
	}
	err = e.stamped(c, s.User.ID, b, "/v1/wallet/sign", policy.MethodSign, policy.SignParams{Scheme: "secp256k1", Path: "m/44'/60'/0'/0/0", Digest: make([]byte, 32)}, &nioapi.SignResult{})
	if errCode(err) != server.CodeStampRefused {
		t.Fatalf("the revoked key stamping: got %v, want %s", err, server.CodeStampRefused)
	}
	aID := a.Credential().ID
	if err := c.Do(ctx, "POST", "/v1/devices/revoke", nioapi.RevokeDevice{Kind: "api_key", ID: aID}, &rv); errCode(err) != server.CodeConflict {
		t.Fatalf("revoking the last way to sign in: got %v, want %s", err, server.CodeConflict)
	}
	if err := c.Do(ctx, "POST", "/v1/devices/revoke", nioapi.RevokeDevice{Kind: "session_key", ID: aID}, &rv); errCode(err) != server.CodeInvalidRequest {
		t.Fatalf("revoking a session key without a policy change: got %v, want %s", err, server.CodeInvalidRequest)
	}
}

func TestClientAddress_ForwardedForIsBelievedOnlyFromTrustedProxies(t *testing.T) {
	tests := []struct {
		name    string
		proxies []string
		xff     []string // X-Forwarded-For headers, in order
		wantIP  string
	}{
		{"no trusted proxies: the header is ignored", nil, []string{"203.0.113.7"}, "127.0.0.1"},
		{"a trusted peer: its client", []string{"127.0.0.1"}, []string{"203.0.113.7"}, "203.0.113.7"},
		{"a trusted peer without the header: the peer", []string{"127.0.0.0/8"}, nil, "127.0.0.1"},
		{"a chain of trusted proxies: the first untrusted hop from the right", []string{"127.0.0.0/8", "10.0.0.0/8"}, []string{"198.51.100.1, 203.0.113.7, 10.1.2.3"}, "203.0.113.7"},
		{"entries a client forged on the left are not believed", []string{"127.0.0.1"}, []string{"10.9.9.9, 198.51.100.1", "203.0.113.7"}, "203.0.113.7"},
		{"IPv6 with a port", []string{"127.0.0.1"}, []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"IPv6 in brackets", []string{"127.0.0.1"}, []string{"[2001:db8::2]"}, "2001:db8::2"},
		{"a trusted prefix written IPv4-mapped", []string{"127.0.0.1", "::ffff:10.0.0.0/104"}, []string{"203.0.113.7, 10.1.2.3"}, "203.0.113.7"},
		{"every hop trusted: the left-most", []string{"127.0.0.1", "10.0.0.0/8"}, []string{"10.0.0.1, 10.0.0.2"}, "10.0.0.1"},
		{"a malformed entry ends the walk at the last trusted hop", []string{"127.0.0.1", "10.0.0.0/8"}, []string{"203.0.113.7, not-an-ip, 10.0.0.5"}, "10.0.0.5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{config: func(c *server.Config) { c.TrustedProxies = tc.proxies }})
			hc := e.httpClient()
			hc.Transport = forwardedFor{hc.Transport, tc.xff}
			c := nioapi.NewClient(e.url, hc)
			e.emailSignIn(c, "proxied@example.com", true)
			var list []nioapi.SessionInfo
			if err := c.Do(context.Background(), "GET", "/v1/sessions", nil, &list); err != nil {
				t.Fatal(err)
			}
			if len(list) != 1 || list[0].IP != tc.wantIP {
				t.Fatalf("the session's address: got %+v, want %s", list, tc.wantIP)
			}
		})
	}
}

// forwardedFor adds X-Forwarded-For headers to every request.
type forwardedFor struct {
	rt  http.RoundTripper
	xff []string
}

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for _, v := range f.xff {
		r.Header.Add("X-Forwarded-For", v)
	}
	return f.rt.RoundTrip(r)
}

func TestClientAddress_IPv6ClientsShareTheirSlash64sLimits(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *server.Config) {
		c.TrustedProxies = []string{"127.0.0.1"}
		c.RateLimits = map[string]int{"challenges_per_ip": 2}
	}})
	tests := []struct {
		name   string
		client string
		want   string // "" for allowed
	}{
		{"the first address of a /64", "2001:db8:0:1::1", ""},
		{"another address of the same /64", "2001:db8:0:1::2", ""},
		{"a third address of the same /64, past the limit", "2001:db8:0:1:ffff::3", server.CodeRateLimited},
		{"an address of the next /64", "2001:db8:0:2::1", ""},
		{"an IPv4 client", "203.0.113.9", ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hc := e.httpClient()
			hc.Transport = forwardedFor{hc.Transport, []string{tc.client}}
			_, err := nioapi.NewClient(e.url, hc).EmailStart(context.Background(), fmt.Sprintf("v6-%d@example.com", i))
			if got := errCode(err); got != tc.want || (tc.want == "" && err != nil) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
