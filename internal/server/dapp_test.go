package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/apps"
	"github.com/niomon/niomon/internal/apps/appstest"
	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/phishing"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/server"
	"github.com/niomon/niomon/secretd"
)

// dappWorld: alice with a wallet (an API key signs her requests); a
// verified app at https://swap.example.org (its domain proved by DNS,
// vetted by the administrator); bob's pending app at
// http://localhost:5173; and a phishing list that blocks evil.example.
type dappWorld struct {
	*appsWorld
	alice   *nioapi.Client
	aliceID string
	key     *secretd.P256Key
	eth     string         // alice's ethereum address
	sol     nioapi.Address // alice's Solana account
	bob     *nioapi.Client
	bobID   string
	bobKey  *secretd.P256Key
}

func newDappWorld(t *testing.T, builtin ...authdb.App) *dappWorld {
	t.Helper()
	list, err := phishing.ParsePlain("test-list", strings.NewReader("evil.example\n"))
	if err != nil {
		t.Fatal(err)
	}
	checker, err := phishing.New(phishing.Config{Lists: []*phishing.List{list}})
	if err != nil {
		t.Fatal(err)
	}
	zone := appstest.DNSServer(t, nil)
	e := newEnv(t, envOptions{
		config:   func(c *server.Config) { c.Admins = []string{"admin@example.com"} },
		verifier: &apps.Verifier{Resolver: zone.Resolver()},
		phishing: checker,
		builtin:  builtin,
	})
	w := &dappWorld{appsWorld: &appsWorld{e: e, zone: zone, dev: e.client(), root: e.client()}}
	w.devID = e.emailSignIn(w.dev, "dev@example.org", true).User.ID
	e.emailSignIn(w.root, "admin@example.com", true)
	ctx := context.Background()

	newUser := func() (*nioapi.Client, string, *secretd.P256Key) {
		c, k := e.client(), newAPIKey(t)
		s, err := c.APIKeySignup(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		e.createWallet(c, s.User.ID, k)
		return c, s.User.ID, k
	}
	w.alice, w.aliceID, w.key = newUser()
	w.bob, w.bobID, w.bobKey = newUser()
	wal, err := w.alice.Wallet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range wal.Addresses {
		switch a.Chain {
		case "ethereum":
			w.eth = a.Address
		case "solana":
			w.sol = a
		}
	}

	app, err := w.register(t, w.dev, nioapi.NewApp{Name: "Example Swap", Contact: "dev@example.org", Origins: []string{"https://swap.example.org"}, RedirectURIs: []string{"https://swap.example.org/back", "https://Swap.Example.org:443"}})
	if err != nil {
		t.Fatal(err)
	}
	o := originOf(t, app, "https://swap.example.org")
	zone.Set(o.TXTName, o.TXTValue)
	if err := w.dev.Do(ctx, http.MethodPost, "/v1/apps/"+app.ID+"/origins/verify", nioapi.VerifyOrigin{Origin: o.Origin, Method: "dns"}, &nioapi.App{}); err != nil {
		t.Fatal(err)
	}
	if err := w.root.Do(ctx, http.MethodPost, "/v1/admin/apps/"+app.ID+"/status", nioapi.AppStatus{Status: authdb.AppVerified, Reason: "reviewed"}, &nioapi.App{}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.register(t, w.bob, nioapi.NewApp{Name: "Bob's Game", Contact: "bob@example.net", Origins: []string{"http://localhost:5173"}}); err != nil {
		t.Fatal(err)
	}
	return w
}

// signFrom has c's wallet sign params as asked by origin ("" for the
// wallet itself).
func (w *dappWorld) signFrom(t *testing.T, c *nioapi.Client, userID string, key nioapi.Signer, origin string, p policy.SignParams) (*nioapi.SignResult, error) {
	t.Helper()
	ctx := context.Background()
	cfg, err := c.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req, err := nioapi.NewRequest(cfg, policy.MethodSign, userID, p)
	if err != nil {
		t.Fatal(err)
	}
	st, err := nioapi.StampWith(key, req)
	if err != nil {
		t.Fatal(err)
	}
	st.Origin = origin
	var out nioapi.SignResult
	return &out, c.Post(ctx, "/v1/wallet/sign", st, &out)
}

// refused checks err against want ("" to sign; else words the refusal
// must carry) and says whether the request was refused.
func refused(t *testing.T, err error, want string) bool {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatal(err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("got %v, want a refusal naming %q", err, want)
	}
	return want != ""
}

func siweMessage(domain, uri, address string, extra string) string {
	return fmt.Sprintf("%s wants you to sign in with your Ethereum account:\n%s\n\nSign in to Example Swap.\n\nURI: %s\nVersion: 1\nChain ID: 1\nNonce: abcdef1234\nIssued At: %s%s",
		domain, address, uri, time.Now().UTC().Add(-time.Minute).Format(time.RFC3339), extra)
}

func TestDappSign_OnlyRegisteredUnblockedSitesGetSignaturesAndSIWEIsBoundToItsSite(t *testing.T) {
	w := newDappWorld(t)
	const path = "m/44'/60'/0'/0/0"
	personal := func(msg string) policy.SignParams {
		return policy.SignParams{Scheme: api.SchemeEthPersonal, Path: path, Message: []byte(msg)}
	}
	cases := []struct {
		name   string
		bob    bool
		origin string
		msg    string
		refuse string // "" to sign; else words the refusal must carry
	}{
		{"the verified app's origin", false, "https://swap.example.org", "hello", ""},
		{"the wallet itself", false, "", "hello", ""},
		{"an unregistered site", false, "https://unknown.example", "hello", "not the origin of a registered"},
		{"a blocked site", false, "https://app.evil.example", "hello", "evil.example"},
		{"a pending app, for someone else", false, "http://localhost:5173", "hello", "not the origin of a registered"},
		{"a pending app, for its developer", true, "http://localhost:5173", "hello", ""},
		{"not an origin", false, "https://swap.example.org/path?q=1", "hello", "origin"},
		{"SIWE for the asking site", false, "https://swap.example.org", siweMessage("swap.example.org", "https://swap.example.org/login", "ETH", ""), ""},
		{"SIWE for another site", false, "https://swap.example.org", siweMessage("bank.example", "https://bank.example/login", "ETH", ""), "bank.example"},
		{"SIWE with a URI elsewhere", false, "https://swap.example.org", siweMessage("swap.example.org", "https://bank.example/login", "ETH", ""), "URI"},
		{"SIWE for another account", false, "https://swap.example.org", siweMessage("swap.example.org", "https://swap.example.org/login", "0x0000000000000000000000000000000000000001", ""), "account"},
		{"SIWE that expired", false, "https://swap.example.org", siweMessage("swap.example.org", "https://swap.example.org/login", "ETH", "\nExpiration Time: 2020-01-01T00:00:00Z"), "expired"},
		{"malformed SIWE from the wallet itself", false, "", siweMessage("swap.example.org", "https://swap.example.org/login", "ETH", "")[:120], "malformed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := strings.ReplaceAll(tc.msg, "ETH", w.eth)
			c, id, key := w.alice, w.aliceID, w.key
			if tc.bob {
				c, id, key = w.bob, w.bobID, w.bobKey
			}
			r, err := w.signFrom(t, c, id, key, tc.origin, personal(msg))
			if refused(t, err, tc.refuse) {
				return
			}
			if tc.bob {
				return
			}
			sig := append([]byte{}, r.Signature...)
			sig[64] -= 27
			pub, err := crypto.SigToPub(accounts.TextHash([]byte(msg)), sig)
			if err != nil || crypto.PubkeyToAddress(*pub) != common.HexToAddress(w.eth) {
				t.Fatalf("go-ethereum does not recover alice's address from the signature: %v", err)
			}
		})
	}
}

func TestDappSign_TheLookupTellsTheWalletWhoIsAsking(t *testing.T) {
	w := newDappWorld(t)
	look := func(origin string) (nioapi.SiteCheck, error) {
		var out nioapi.SiteCheck
		err := w.alice.Do(context.Background(), http.MethodGet, "/v1/apps/lookup?origin="+url.QueryEscape(origin), nil, &out)
		return out, err
	}
	got, err := look("https://swap.example.org")
	if err != nil || got.App == nil || got.App.Name != "Example Swap" || got.Verdict != "allow" || got.Reason != "registered" {
		t.Fatalf("the verified app: %v %+v", err, got)
	}
	got, err = look("https://login.evil.example")
	if err != nil || got.App != nil || got.Verdict != "block" || !strings.Contains(got.Explanation, "test-list") {
		t.Fatalf("a blocked site: %v %+v", err, got)
	}
	if _, err := look("javascript:alert(1)"); errCode(err) != server.CodeInvalidRequest {
		t.Fatalf("not an origin: %v, want invalid_request", err)
	}
}

func TestDappSign_TheLookupSaysWhetherAReturnURLIsExactlyOneTheAppRegistered(t *testing.T) {
	w := newDappWorld(t)
	cases := []struct {
		name, origin, back string
		registered         bool
	}{
		{"the registered URL", "https://swap.example.org", "https://swap.example.org/back", true},
		{"another page on the app's origin (an open redirect, say)", "https://swap.example.org", "https://swap.example.org/go?to=https://evil.example", false},
		{"the registered URL with a query", "https://swap.example.org", "https://swap.example.org/back?to=https://evil.example", false},
		{"the registered URL with a fragment", "https://swap.example.org", "https://swap.example.org/back#x", false},
		{"the registered URL, with another origin asking", "https://swap.example.org:8443", "https://swap.example.org/back", false},
		{"the registered URL over http", "http://swap.example.org", "http://swap.example.org/back", false},
		// Registered as https://Swap.Example.org:443, written by the browser as:
		{"a URL registered without a path, a port or lower case, as the browser writes it", "https://swap.example.org", "https://swap.example.org/", true},
		{"the same as registered, not as a browser writes it", "https://swap.example.org", "https://Swap.Example.org:443", false},
		{"an unregistered site's URL", "https://unknown.example", "https://unknown.example/back", false},
		{"a pending app's URL, for someone else", "http://localhost:5173", "http://localhost:5173/", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out nioapi.SiteCheck
			q := "/v1/apps/lookup?origin=" + url.QueryEscape(tc.origin) + "&return=" + url.QueryEscape(tc.back)
			if err := w.alice.Do(context.Background(), http.MethodGet, q, nil, &out); err != nil {
				t.Fatal(err)
			}
			if out.ReturnRegistered != tc.registered {
				t.Fatalf("return_registered %v, want %v (%+v)", out.ReturnRegistered, tc.registered, out)
			}
		})
	}
}

func TestDappSign_ASuspendedAppGetsNoSignatureEvenForItsDeveloper(t *testing.T) {
	w := newDappWorld(t)
	ctx := context.Background()
	var bobs []nioapi.App
	if err := w.bob.Do(ctx, http.MethodGet, "/v1/apps", nil, &bobs); err != nil || len(bobs) != 1 {
		t.Fatalf("bob's apps: %v %d", err, len(bobs))
	}
	p := policy.SignParams{Scheme: api.SchemeEthPersonal, Path: "m/44'/60'/0'/0/0", Message: []byte("hello")}
	if _, err := w.signFrom(t, w.bob, w.bobID, w.bobKey, "http://localhost:5173", p); err != nil {
		t.Fatalf("bob's own pending app: %v", err)
	}
	if err := w.root.Do(ctx, http.MethodPost, "/v1/admin/apps/"+bobs[0].ID+"/status", nioapi.AppStatus{Status: authdb.AppSuspended, Reason: "abuse"}, &nioapi.App{}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.signFrom(t, w.bob, w.bobID, w.bobKey, "http://localhost:5173", p); errCode(err) != server.CodeForbidden {
		t.Fatalf("bob's suspended app: %v, want forbidden", err)
	}
}

func TestDappSign_ASiteGetsNoRawDigestSignature(t *testing.T) {
	w := newDappWorld(t)
	bank := siweMessage("bank.example", "https://bank.example/login", w.eth, "")
	digest := accounts.TextHash([]byte(bank))
	for _, scheme := range []string{api.SchemeSecp256k1, api.SchemeBTCECDSA, api.SchemeBTCSchnorr, api.SchemeP256} {
		t.Run(scheme, func(t *testing.T) {
			_, err := w.signFrom(t, w.alice, w.aliceID, w.key, "https://swap.example.org", policy.SignParams{Scheme: scheme, Path: "m/44'/60'/0'/0/0", Digest: digest})
			if errCode(err) != server.CodeForbidden || !strings.Contains(err.Error(), "may not ask") {
				t.Fatalf("a site asks for a %s signature of a digest: %v, want forbidden", scheme, err)
			}
		})
	}
	// In the wallet itself the user may still sign a digest.
	if _, err := w.signFrom(t, w.alice, w.aliceID, w.key, "", policy.SignParams{Scheme: api.SchemeSecp256k1, Path: "m/44'/60'/0'/0/0", Digest: digest}); err != nil {
		t.Fatalf("a digest signed in the wallet itself: %v", err)
	}
}

func TestDappSign_AnOriginProvedAfterReviewWaitsForTheNextReview(t *testing.T) {
	w := newDappWorld(t)
	ctx := context.Background()
	// The verified app gains an origin (a domain that is also on a
	// phishing list) after its review.
	var out nioapi.App
	reg := nioapi.NewApp{Name: "Example Swap Two", Contact: "dev@example.org", Origins: []string{"https://good.example.org", "https://app.evil.example"}}
	if err := w.dev.Do(ctx, http.MethodPost, "/v1/apps", reg, &out); err != nil {
		t.Fatal(err)
	}
	prove := func(origin string) nioapi.App {
		t.Helper()
		o := originOf(t, out, origin)
		w.zone.Set(o.TXTName, o.TXTValue)
		var got nioapi.App
		if err := w.dev.Do(ctx, http.MethodPost, "/v1/apps/"+out.ID+"/origins/verify", nioapi.VerifyOrigin{Origin: origin, Method: "dns"}, &got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	prove("https://good.example.org")
	if err := w.root.Do(ctx, http.MethodPost, "/v1/admin/apps/"+out.ID+"/status", nioapi.AppStatus{Status: authdb.AppVerified, Reason: "reviewed good.example.org"}, &nioapi.App{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // the proof comes after the review, in the database's millisecond time
	after := prove("https://app.evil.example")
	if !originOf(t, after, "https://app.evil.example").AwaitingReview {
		t.Fatal("an origin proved after the review is not marked as awaiting review")
	}
	p := policy.SignParams{Scheme: api.SchemeEthPersonal, Path: "m/44'/60'/0'/0/0", Message: []byte("hello")}
	if _, err := w.signFrom(t, w.alice, w.aliceID, w.key, "https://app.evil.example", p); errCode(err) != server.CodeForbidden {
		t.Fatalf("a signature for an origin proved after the review: %v, want forbidden", err)
	}
	if _, err := w.signFrom(t, w.alice, w.aliceID, w.key, "https://good.example.org", p); err != nil {
		t.Fatalf("the reviewed origin of the same app: %v", err)
	}
	var pending []nioapi.App
	if err := w.root.Do(ctx, http.MethodGet, "/v1/admin/apps", nil, &pending); err != nil || !slices.ContainsFunc(pending, func(a nioapi.App) bool { return a.ID == out.ID }) {
		t.Fatalf("the administrators' queue: %v %d, want the app with the new origin in it", err, len(pending))
	}
	// A wildcard origin is proved by DNS only.
	var wild nioapi.App
	if err := w.dev.Do(ctx, http.MethodPost, "/v1/apps", nioapi.NewApp{Name: "Wild", Contact: "dev@example.org", Origins: []string{"https://*.wild.example.org"}}, &wild); err != nil {
		t.Fatal(err)
	}
	if err := w.dev.Do(ctx, http.MethodPost, "/v1/apps/"+wild.ID+"/origins/verify", nioapi.VerifyOrigin{Origin: "https://*.wild.example.org", Method: "file"}, &nioapi.App{}); errCode(err) != server.CodeInvalidRequest {
		t.Fatalf("a wildcard proved by a file: %v, want invalid_request", err)
	}
}

func TestDappSign_ARejectedAppAndAnUnprovedOriginGetNothingEvenForTheDeveloper(t *testing.T) {
	w := newDappWorld(t)
	ctx := context.Background()
	p := policy.SignParams{Scheme: api.SchemeEthPersonal, Path: "m/44'/60'/0'/0/0", Message: []byte("hello")}
	var app nioapi.App
	if err := w.bob.Do(ctx, http.MethodPost, "/v1/apps", nioapi.NewApp{Name: "Bank Clone", Contact: "bob@example.net", Origins: []string{"https://bank.example"}}, &app); err != nil {
		t.Fatal(err)
	}
	if _, err := w.signFrom(t, w.bob, w.bobID, w.bobKey, "https://bank.example", p); errCode(err) != server.CodeForbidden {
		t.Fatalf("the developer, on an origin they never proved: %v, want forbidden", err)
	}
	var bobs []nioapi.App
	if err := w.bob.Do(ctx, http.MethodGet, "/v1/apps", nil, &bobs); err != nil {
		t.Fatal(err)
	}
	for _, a := range bobs {
		if err := w.root.Do(ctx, http.MethodPost, "/v1/admin/apps/"+a.ID+"/status", nioapi.AppStatus{Status: authdb.AppRejected, Reason: "no"}, &nioapi.App{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.signFrom(t, w.bob, w.bobID, w.bobKey, "http://localhost:5173", p); errCode(err) != server.CodeForbidden {
		t.Fatalf("the developer of a rejected app: %v, want forbidden", err)
	}
}

// TestDappSign_ABuiltInAppServesEveryUserAtItsOriginsAndNowhereElse:
// niomon dev's demo dApp is known to the server without the database; it
// is verified for every user at its own origin, and another port or
// scheme of the same host is not it. A server without it (every real
// deployment) does not know the origin.
func TestDappSign_ABuiltInAppServesEveryUserAtItsOriginsAndNowhereElse(t *testing.T) {
	demo := authdb.App{ID: "niomon-dev-demo-dapp", Name: "Niomon demo dApp", Status: authdb.AppVerified, Origins: []authdb.AppOrigin{{Origin: "http://localhost:4000"}}}
	w := newDappWorld(t, demo)
	plain := newDappWorld(t)
	p := policy.SignParams{Scheme: api.SchemeEthPersonal, Path: "m/44'/60'/0'/0/0", Message: []byte("hello")}
	for _, tc := range []struct {
		name   string
		w      *dappWorld
		bob    bool
		origin string
		signs  bool
	}{
		{"alice at the demo's origin", w, false, "http://localhost:4000", true},
		{"bob at the demo's origin", w, true, "http://localhost:4000", true},
		{"another port", w, false, "http://localhost:4001", false},
		{"https on the same port", w, false, "https://localhost:4000", false},
		{"a server without the built-in app", plain, false, "http://localhost:4000", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, id, key := tc.w.alice, tc.w.aliceID, tc.w.key
			if tc.bob {
				c, id, key = tc.w.bob, tc.w.bobID, tc.w.bobKey
			}
			_, err := tc.w.signFrom(t, c, id, key, tc.origin, p)
			if tc.signs != (err == nil) {
				t.Fatalf("signs: %v, want %v", err, tc.signs)
			}
			var site nioapi.SiteCheck
			if err := c.Do(context.Background(), http.MethodGet, "/v1/apps/lookup?origin="+url.QueryEscape(tc.origin), nil, &site); err != nil {
				t.Fatal(err)
			}
			if got := site.App != nil && site.App.Name == demo.Name && site.App.Status == authdb.AppVerified; got != tc.signs {
				t.Fatalf("the lookup names the app %+v, want it: %v", site.App, tc.signs)
			}
		})
	}
}

// TestApps_AnAppsIconIsFetchedCheckedAndServedFromTheServersOrigin: the
// wallet shows an app's icon from the server, which fetched it once from
// the developer's URL and checked it; an icon that is not a small raster
// image, and the icon of an app the user may not see, are not served.
func TestApps_AnAppsIconIsFetchedCheckedAndServedFromTheServersOrigin(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	var icon bytes.Buffer
	if err := png.Encode(&icon, img); err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int32
	client := appstest.HTTPSServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/icon.png":
			w.Write(icon.Bytes())
		default:
			w.Header().Set("Content-Type", "image/png")
			w.Write([]byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`))
		}
	}))
	zone := appstest.DNSServer(t, nil)
	e := newEnv(t, envOptions{
		config:   func(c *server.Config) { c.Admins = []string{"admin@example.com"} },
		verifier: &apps.Verifier{Resolver: zone.Resolver(), HTTP: client},
	})
	w := &appsWorld{e: e, zone: zone, dev: e.client(), root: e.client()}
	e.emailSignIn(w.dev, "dev@example.org", true)
	e.emailSignIn(w.root, "admin@example.com", true)
	alice := e.client()
	e.emailSignIn(alice, "alice@example.com", true)
	ctx := context.Background()
	mk := func(name, iconURL, status string) string {
		app, err := w.register(t, w.dev, nioapi.NewApp{Name: name, Contact: "dev@example.org", IconURL: iconURL, Origins: []string{"http://localhost:3000"}})
		if err != nil {
			t.Fatal(err)
		}
		if status != "" {
			if err := w.root.Do(ctx, http.MethodPost, "/v1/admin/apps/"+app.ID+"/status", nioapi.AppStatus{Status: status, Reason: "reviewed"}, &nioapi.App{}); err != nil {
				t.Fatal(err)
			}
		}
		return app.ID
	}
	good := mk("Good", "https://icons.example.com/icon.png", authdb.AppVerified)
	bad := mk("Script", "https://icons.example.com/evil.png", authdb.AppVerified)
	pending := mk("Pending", "https://icons.example.com/icon.png", "")
	for _, tc := range []struct {
		name   string
		c      *nioapi.Client
		id     string
		serves bool
	}{
		{"a verified app's PNG, to any user", alice, good, true},
		{"the same again, from the cache", alice, good, true},
		{"SVG with script, sent as image/png", alice, bad, false},
		{"a pending app's icon, to another user", alice, pending, false},
		{"a pending app's icon, to its developer", w.dev, pending, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got nioapi.RawAnswer
			err := tc.c.Do(ctx, http.MethodGet, "/v1/apps/"+tc.id+"/icon", nil, &got)
			if !tc.serves {
				if errCode(err) != server.CodeNotFound {
					t.Fatalf("got %v, want not_found", err)
				}
				return
			}
			if err != nil || !bytes.Equal(got.Body, icon.Bytes()) {
				t.Fatalf("got %v and %d bytes, want the PNG", err, len(got.Body))
			}
			for k, v := range map[string]string{"Content-Type": "image/png", "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox"} {
				if got.Header.Get(k) != v {
					t.Fatalf("%s: %q, want %q", k, got.Header.Get(k), v)
				}
			}
		})
	}
	if n := hits.Load(); n != 3 {
		t.Fatalf("the icon host saw %d requests, want 3 (one per app: the answers are kept)", n)
	}
}

func TestDappSign_ASiteGetsEd25519SignaturesOfTheSolanaAccountOnly(t *testing.T) {
	w := newDappWorld(t)
	for _, tc := range []struct {
		name, path string
		signs      bool
	}{
		{"the Solana account", "m/44'/501'/0'/0'", true},
		{"another ed25519 path", "m/44'/784'/0'/0'/0'", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.signFrom(t, w.alice, w.aliceID, w.key, "https://swap.example.org", policy.SignParams{Scheme: api.SchemeEd25519, Path: tc.path, Message: []byte("hello")})
			if tc.signs != (err == nil) {
				t.Fatalf("signs: %v, want %v", err, tc.signs)
			}
		})
	}
}

func TestDappSign_ASignInWithSolanaMessageIsBoundToItsSiteAndTheSolanaAccount(t *testing.T) {
	w := newDappWorld(t)
	siws := func(domain, address, fields string) string {
		return domain + " wants you to sign in with your Solana account:\n" + address + "\n\nSign in to Example Swap." + fields
	}
	const uri = "\n\nURI: https://swap.example.org/login\nVersion: 1\nChain ID: mainnet\nNonce: abcdef1234"
	cases := []struct {
		name   string
		origin string
		msg    string
		refuse string // "" to sign; else words the refusal must carry
	}{
		{"SIWS for the asking site", "https://swap.example.org", siws("swap.example.org", "SOL", uri), ""},
		{"SIWS with no fields", "https://swap.example.org", siws("swap.example.org", "SOL", ""), ""},
		{"SIWS for another site", "https://swap.example.org", siws("bank.example", "SOL", ""), "bank.example"},
		{"SIWS with a URI elsewhere", "https://swap.example.org", siws("swap.example.org", "SOL", strings.Replace(uri, "swap.example.org", "bank.example", 1)), "URI"},
		{"SIWS for another account", "https://swap.example.org", siws("swap.example.org", "11111111111111111111111111111111", ""), "account"},
		{"SIWS that expired", "https://swap.example.org", siws("swap.example.org", "SOL", uri+"\nExpiration Time: 2020-01-01T00:00:00Z"), "expired"},
		{"malformed SIWS", "https://swap.example.org", siws("swap.example.org", "SOL", "\nURI: x"), "malformed Sign In With Solana"},
		{"SIWS words in an Ethereum personal_sign are only text", "https://swap.example.org", siws("bank.example", "SOL", ""), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := []byte(strings.ReplaceAll(tc.msg, "SOL", w.sol.Address))
			p := policy.SignParams{Scheme: api.SchemeEd25519, Path: w.sol.Path, Message: msg}
			if strings.Contains(tc.name, "Ethereum") {
				p = policy.SignParams{Scheme: api.SchemeEthPersonal, Path: "m/44'/60'/0'/0/0", Message: msg}
			}
			r, err := w.signFrom(t, w.alice, w.aliceID, w.key, tc.origin, p)
			if refused(t, err, tc.refuse) {
				return
			}
			if p.Scheme != api.SchemeEd25519 {
				return
			}
			pub, err := hex.DecodeString(w.sol.PublicKey)
			if err != nil || len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, msg, r.Signature) {
				t.Fatalf("the signature does not verify with alice's Solana key (%v)", err)
			}
		})
	}
}
