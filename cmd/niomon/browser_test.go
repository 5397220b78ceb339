package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/secretd"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// The browser tests drive Debian's chromium, headless, through the
// DevTools protocol (chromedp), against a real niomon dev stack. .ci/run
// installs chromium; elsewhere a machine without it skips them.

// browser is one chromium process.
type browser struct {
	t     *testing.T
	alloc context.Context
	first context.Context // the default browser context (profile)
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed: .ci/run must apt-get install it")
		}
		t.Skip("chromium is not installed (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-gpu", true),
		// A dApp's request opens the wallet in a popup, a window behind the
		// dApp's: without these Chromium freezes it as a background page.
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		// A look-alike domain for the phishing tests, on loopback.
		chromedp.Flag("host-resolver-rules", "MAP "+lookAlikeHost+" 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	first, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// Start the browser now: further profiles need it running.
	if err := chromedp.Do(first); err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, alloc: alloc, first: first}
}

// lookAlikeHost is a look-alike of uniswap.org that the test browser
// resolves to 127.0.0.1.
const lookAlikeHost = "app.un1swap.org"

// tab is one page in a profile.
type tab struct {
	t   *testing.T
	ctx context.Context
}

// tab opens the default profile's tab.
func (b *browser) tab() *tab { return &tab{t: b.t, ctx: b.first} }

// newProfile opens a tab in a fresh profile, another device with its
// own cookies and IndexedDB: another chromium process with its own user
// data directory.
func (b *browser) newProfile() *tab { return newBrowser(b.t).tab() }

// run runs actions with a deadline, failing the test with what step did
// not happen.
func (p *tab) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v (the page says %q; %s)", what, err, p.says(), p.failureShot())
	}
}

// get runs one action with a deadline and returns its value.
func get[T any](p *tab, what string, a chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 45*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		p.t.Fatalf("%s: %v (the page says %q)", what, err, p.says())
	}
	return v
}

// failureShot saves what the page showed when a step failed.
func (p *tab) failureShot() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return "no screenshot: " + err.Error()
	}
	path := filepath.Join(artifacts(p.t), "failed-"+strings.NewReplacer("/", "-", " ", "_").Replace(p.t.Name())+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return err.Error()
	}
	return "screenshot " + path
}

// artifacts is the directory for screenshots: $NIOMON_ARTIFACTS/screenshots
// (.ci/run sets it), or one under the system's temporary directory.
func artifacts(t *testing.T) string {
	dir := os.Getenv("NIOMON_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "niomon-artifacts")
	}
	dir = filepath.Join(dir, "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// says is the page's error or status line, for failure messages.
func (p *tab) says() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById('fatal')||document.getElementById('status')||{}).textContent||''`))
	return s
}

func (p *tab) text(sel string) string {
	p.t.Helper()
	p.run("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	return strings.TrimSpace(get(p, "read "+sel, chromedp.Text(chromedp.CSS(sel))))
}

// shot saves a screenshot of the page at desktop and at phone width in
// the artifacts directory ($NIOMON_ARTIFACTS/screenshots, or a temporary
// one), named name-desktop.png and name-phone.png.
func (p *tab) shot(name string) {
	p.t.Helper()
	dir := artifacts(p.t)
	for _, size := range []struct {
		name string
		w, h int64
	}{{"desktop", 1280, 900}, {"phone", 390, 844}} {
		p.run("resize for "+name, chromedp.EmulateViewport(size.w, size.h))
		png := get(p, "screenshot "+name, chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%s.png", name, size.name)), png, 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
	p.run("desktop size", chromedp.EmulateViewport(1280, 900))
}

// addAuthenticator gives the tab Chromium's virtual authenticator: a
// platform authenticator with resident keys and user verification, whose
// user is always present and verified.
func (p *tab) addAuthenticator() webauthn.AuthenticatorID {
	p.t.Helper()
	return get(p, "add a virtual authenticator", func(ctx context.Context, t *chromedp.Target) (webauthn.AuthenticatorID, error) {
		if _, err := cdp.Call(ctx, t, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return "", err
		}
		r, err := cdp.Call(ctx, t, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}})
		return r.AuthenticatorID, err
	})
}

// credentialOf returns the one credential of the tab's authenticator id.
func (p *tab) credentialOf(id webauthn.AuthenticatorID) *webauthn.Credential {
	p.t.Helper()
	creds := get(p, "the authenticator's credentials", func(ctx context.Context, t *chromedp.Target) ([]*webauthn.Credential, error) {
		r, err := cdp.Call(ctx, t, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
		return r.Credentials, err
	})
	if len(creds) != 1 {
		p.t.Fatalf("the authenticator holds %d credentials, want 1", len(creds))
	}
	return creds[0]
}

// addCredential puts c (with its private key) into authenticator id: a
// passkey the platform synced.
func (p *tab) addCredential(id webauthn.AuthenticatorID, c *webauthn.Credential) {
	p.t.Helper()
	// Only what a synced passkey carries, sent as a plain map: the
	// generated type always sends the CMTG fields, which this
	// authenticator refuses.
	sync := map[string]any{"credentialId": base64.StdEncoding.EncodeToString(c.CredentialID), "isResidentCredential": c.IsResidentCredential,
		"rpId": c.RpID, "privateKey": base64.StdEncoding.EncodeToString(c.PrivateKey), "userHandle": base64.StdEncoding.EncodeToString(c.UserHandle),
		"signCount": c.SignCount}
	get(p, "sync the passkey", func(ctx context.Context, t *chromedp.Target) (bool, error) {
		err := t.Call(ctx, webauthn.CommandAddCredential, map[string]any{"authenticatorId": id, "credential": sync}, nil)
		return err == nil, err
	})
}

// signInByEmail signs in (or up) on the wallet page with the n-th code
// mailed to addr.
func (p *tab) signInByEmail(d *devStack, addr string, n int, shots string) {
	p.t.Helper()
	p.signInByEmailThrough(d.url, d, addr, n, shots, true)
}

// signInByEmailAt does it on the page at front (a proxy of d).
func (p *tab) signInByEmailAt(front *devStack, d *devStack, addr string, n int) {
	p.t.Helper()
	p.signInByEmailThrough(front.url, d, addr, n, "", true)
}

// signInByEmailThrough does it at front; navigate false stays on the
// page as it is (a choice made on it must survive).
func (p *tab) signInByEmailThrough(front string, d *devStack, addr string, n int, shots string, navigate bool) {
	p.t.Helper()
	if navigate {
		p.run("open the wallet", chromedp.Navigate(front+"/"))
	}
	p.run("the sign-in screen", chromedp.WaitVisible(chromedp.CSS("#email")))
	if shots != "" {
		p.shot(shots + "-sign-in")
	}
	// By keyboard: Enter submits each form.
	p.run("ask for a code", chromedp.SendKeys(chromedp.CSS("#email"), addr+"\r"), chromedp.WaitVisible(chromedp.CSS("#code")))
	if shots != "" {
		p.shot(shots + "-code")
	}
	code, err := d.mailCode(addr, n)
	if err != nil {
		p.t.Fatal(err)
	}
	p.run("enter the code", chromedp.SendKeys(chromedp.CSS("#code"), code+"\r"))
}

// addresses waits for the home screen and returns the addresses it
// shows, by chain.
func (p *tab) addresses() map[string]string {
	p.t.Helper()
	p.run("the home screen", chromedp.WaitVisible(chromedp.CSS(`.account[data-chain="ethereum"] .address`)))
	return get(p, "read the addresses", chromedp.Evaluate[map[string]string](
		`Object.fromEntries([...document.querySelectorAll('.account')].map(li => [li.dataset.chain, li.querySelector('.address').textContent]))`))
}

// exportPhrase goes through the export screen (with the email code of
// mail n to addr when codeFor is set) and returns the words it shows,
// then leaves the screen and checks they are gone.
func (p *tab) exportPhrase(d *devStack, codeFor string, n int, shots string) string {
	p.t.Helper()
	p.askForExport(d, codeFor, n, shots)
	p.run("the phrase", chromedp.WaitVisible(chromedp.CSS("#phrase li")))
	words := get(p, "read the phrase", chromedp.Evaluate[string](`[...document.querySelectorAll('#phrase li')].map(li => li.textContent).join(' ')`))
	if shots != "" {
		p.shot(shots + "-export-phrase")
	}
	p.run("hide it", chromedp.Click(chromedp.CSS("#phrase-done")), chromedp.WaitVisible(chromedp.CSS("#export")))
	if n := get(p, "look for the phrase", chromedp.Evaluate[int](`document.querySelectorAll('#phrase li').length`)); n != 0 {
		p.t.Fatalf("after leaving the export screen the page still shows %d words", n)
	}
	return words
}

// errorStatus waits for the page's error line and returns it.
func (p *tab) errorStatus() string {
	p.t.Helper()
	return get(p, "the page's error", chromedp.Poll[string](`document.getElementById('status').classList.contains('error') ? document.getElementById('status').textContent : null`, chromedp.WithPollingTimeout(30*time.Second)))
}

// askForExport goes through the export screen up to the request.
func (p *tab) askForExport(d *devStack, codeFor string, n int, shots string) {
	p.t.Helper()
	p.run("open the export screen", chromedp.Click(chromedp.CSS("#export")), chromedp.WaitVisible(chromedp.CSS("#alone")))
	if shots != "" {
		p.shot(shots + "-export-warning")
	}
	p.run("confirm", chromedp.Click(chromedp.CSS("#alone")), chromedp.Click(chromedp.CSS("#export-go")))
	if codeFor != "" {
		p.run("the code field", chromedp.WaitVisible(chromedp.CSS("#export-code")))
		code, err := d.mailCode(codeFor, n)
		if err != nil {
			p.t.Fatal(err)
		}
		p.run("enter the code", chromedp.SendKeys(chromedp.CSS("#export-code"), code), chromedp.Click(chromedp.CSS("#export-go")))
	}
}

// signMessage signs msg on the page and returns the signature it shows.
func (p *tab) signMessage(msg string) string {
	p.t.Helper()
	get(p, "clear the message", chromedp.Evaluate[bool](`document.getElementById('message').value = ''; true`))
	p.run("sign "+msg,
		chromedp.SendKeys(chromedp.CSS("#message"), msg),
		chromedp.Click(chromedp.CSS("#sign-form button[type=submit]")),
	)
	return get(p, "the signature", chromedp.Poll[string](`document.getElementById('signature').textContent || null`, chromedp.WithPollingTimeout(30*time.Second)))
}

var ethAddressRe = regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`)

// personalSigner recovers the address that made an EIP-191 signature of
// msg, with go-ethereum.
func personalSigner(t *testing.T, msg, sigHex string) string {
	t.Helper()
	sig, err := hex.DecodeString(strings.TrimPrefix(sigHex, "0x"))
	if err != nil || len(sig) != 65 {
		t.Fatalf("the page shows signature %q, want 65 bytes in hex", sigHex)
	}
	if sig[64] >= 27 {
		sig[64] -= 27
	}
	pub, err := crypto.SigToPub(accounts.TextHash([]byte(msg)), sig)
	if err != nil {
		t.Fatal(err)
	}
	return crypto.PubkeyToAddress(*pub).Hex()
}

func TestBrowser_ANewUserSignsUpWithAnEmailCodeSeesTheirAddressesAndSigns(t *testing.T) {
	b := newBrowser(t)
	d := startDev(t, filepath.Join(t.TempDir(), "data"), freePort(t), nil)
	p := b.tab()

	p.signInByEmail(d, "carol@example.com", 1, "email")
	addrs := p.addresses()
	p.shot("home")
	if len(addrs) != 5 || !ethAddressRe.MatchString(addrs["ethereum"]) || !strings.HasPrefix(addrs["cosmos"], "cosmos1") || !strings.HasPrefix(addrs["bitcoin"], "bc1q") ||
		!strings.HasPrefix(addrs["bitcoin-taproot"], "bc1p") || addrs["solana"] == "" {
		t.Fatalf("the page shows %v, want an address for each of the five default accounts", addrs)
	}

	// Each account shows its address as a QR code on demand.
	p.run("show the ethereum QR code", chromedp.Click(chromedp.CSS(`.account[data-chain="ethereum"] .qr-toggle`)),
		chromedp.WaitVisible(chromedp.CSS(`.account[data-chain="ethereum"] svg.qr`)))
	if label := get(p, "the QR code's label", chromedp.Evaluate[string](`document.querySelector('.account[data-chain="ethereum"] svg.qr').getAttribute('aria-label')`)); !strings.Contains(label, addrs["ethereum"]) {
		t.Fatalf("the QR code is labelled %q, want the ethereum address", label)
	}
	p.shot("home-qr")

	msg := "Hello from Ditto"
	sig := p.signMessage(msg)
	p.shot("signed")
	if got := personalSigner(t, msg, sig); got != addrs["ethereum"] {
		t.Fatalf("go-ethereum recovers %s from the page's signature, but the page shows %s", got, addrs["ethereum"])
	}

	// The phrase the page shows gives the address it shows, by go-bip39 and
	// btcutil's BIP32. Exporting asks for a fresh email code first.
	words := p.exportPhrase(d, "carol@example.com", 2, "email")
	if n := len(strings.Fields(words)); n != 24 {
		t.Fatalf("the export screen shows %d words, want 24", n)
	}
	if got := ethAddressOf(t, words); got != addrs["ethereum"] {
		t.Fatalf("the exported phrase gives %s, but the page shows %s", got, addrs["ethereum"])
	}

	// Signed out and in again, the browser finds its key in IndexedDB: the
	// same wallet, and it still signs for it.
	p.run("sign out", chromedp.Click(chromedp.CSS("#sign-out")), chromedp.WaitVisible(chromedp.CSS("#email")))
	p.signInByEmail(d, "carol@example.com", 3, "")
	if again := p.addresses(); again["ethereum"] != addrs["ethereum"] {
		t.Fatalf("signed in again, the page shows %v, want %v", again, addrs)
	}
	msg = "Signed in again"
	if got := personalSigner(t, msg, p.signMessage(msg)); got != addrs["ethereum"] {
		t.Fatalf("after signing in again go-ethereum recovers %s, want %s", got, addrs["ethereum"])
	}
}

// refused waits for the page's error screen and returns its text; the
// page must show no address with it.
func (p *tab) refused() string {
	p.t.Helper()
	msg := p.text("#fatal")
	if n := get(p, "count the addresses", chromedp.Evaluate[int](`document.querySelectorAll('.account').length`)); n != 0 {
		p.t.Fatalf("the page shows %d addresses beside its error %q", n, msg)
	}
	return msg
}

// The page shows an address only if the cluster signed it for the
// signed-in user's wallet, and trusts only the receipt key it pinned: a
// server (here a proxy in front of a real one) that swaps what it relays
// gets an error screen, not a wrong address.
func TestBrowser_APageRefusesAddressesAndReceiptsTheClusterDidNotSignForTheUser(t *testing.T) {
	b := newBrowser(t)
	dir := t.TempDir()
	d := startDev(t, filepath.Join(dir, "data"), freePort(t), nil)
	// Another user's wallet, with its genuine statements and receipt, as an
	// operator could make for itself.
	_, otherAnswer := anotherUser(t, d, filepath.Join(dir, "operator.json"))
	otherWallet, otherPolicy := otherAnswer("/v1/wallet"), otherAnswer("/v1/wallet/policy")
	otherKey, _, _ := ed25519.GenerateKey(rand.Reader)

	var rewrite atomic.Pointer[func(path string, body map[string]any)]
	honest := func(string, map[string]any) {}
	rewrite.Store(&honest)
	// The lies are told in answers to GETs: what the page reads back.
	front := lyingServerFor(t, d.url, func(r *http.Request, body map[string]any) {
		if r.Method == http.MethodGet {
			(*rewrite.Load())(r.URL.Path, body)
		}
	})
	replace := func(path string, with map[string]any) func(string, map[string]any) {
		return func(p string, body map[string]any) {
			if p == path {
				clear(body)
				maps.Copy(body, with)
			}
		}
	}
	tests := []struct {
		name string
		// pinFirst signs up through the honest relay, so the page pins the
		// real receipt key, and then lies.
		pinFirst bool
		lie      func(path string, body map[string]any)
		want     string // in the error; "" for the addresses
	}{
		{"the honest relay shows the addresses", false, honest, ""},
		{"a swapped ethereum address", false, func(path string, body map[string]any) {
			if path == "/v1/wallet" {
				for _, a := range body["addresses"].([]any) {
					if m := a.(map[string]any); m["chain"] == "ethereum" {
						m["address"] = "0x000000000000000000000000000000000000dEaD"
					}
				}
			}
		}, "is not one the enclave signed for your wallet"},
		{"another wallet's genuine addresses", false, replace("/v1/wallet", otherWallet), "not yours"},
		{"another wallet's genuine receipt", false, replace("/v1/wallet/policy", otherPolicy), "does not list this browser's key"},
		{"another receipt key from the first visit", false, func(path string, body map[string]any) {
			if path == "/v1/config" {
				body["receipt_key"] = base64.StdEncoding.EncodeToString(otherKey)
			}
		}, "key cluster this browser trusts"},
		{"another receipt key after the pin", true, func(path string, body map[string]any) {
			if path == "/v1/config" {
				body["receipt_key"] = base64.StdEncoding.EncodeToString(otherKey)
			}
		}, "different key cluster"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := b.newProfile()
			p.t = t
			addr := fmt.Sprintf("victim%d@example.com", i)
			if tc.pinFirst {
				rewrite.Store(&honest)
				front2 := &devStack{url: front}
				p.signInByEmailAt(front2, d, addr, 1)
				p.addresses()
			}
			rewrite.Store(&tc.lie)
			defer rewrite.Store(&honest)
			if tc.pinFirst {
				p.run("reload", chromedp.Reload())
			} else {
				p.signInByEmailAt(&devStack{url: front}, d, addr, 1)
			}
			if tc.want == "" {
				if got := p.addresses(); !ethAddressRe.MatchString(got["ethereum"]) {
					t.Fatalf("through the honest relay the page shows %v", got)
				}
				return
			}
			if msg := p.refused(); !strings.Contains(msg, tc.want) {
				t.Fatalf("the page says %q, want it to say %q", msg, tc.want)
			}
			if i == 1 {
				p.shot("refused-swapped-address")
			}
		})
	}
}

func TestBrowser_ANewUserSignsUpWithAPasskeySignsOutSignsInAgainAndSigns(t *testing.T) {
	b := newBrowser(t)
	d := startDev(t, filepath.Join(t.TempDir(), "data"), freePort(t), nil)
	p := b.tab()
	p.run("open the wallet", chromedp.Navigate(d.url+"/"), chromedp.WaitVisible(chromedp.CSS("#passkey-signup")))
	p.addAuthenticator()

	p.run("create a wallet with a passkey", chromedp.Click(chromedp.CSS("#passkey-signup")))
	addrs := p.addresses()
	p.shot("passkey-home")
	if len(addrs) != 5 || !ethAddressRe.MatchString(addrs["ethereum"]) {
		t.Fatalf("after a passkey sign-up the page shows %v", addrs)
	}
	msg := "Signed with a passkey"
	if got := personalSigner(t, msg, p.signMessage(msg)); got != addrs["ethereum"] {
		t.Fatalf("go-ethereum recovers %s from the page's signature, but the page shows %s", got, addrs["ethereum"])
	}

	p.run("sign out", chromedp.Click(chromedp.CSS("#sign-out")), chromedp.WaitVisible(chromedp.CSS("#passkey-signin")))
	p.run("sign in with the passkey", chromedp.Click(chromedp.CSS("#passkey-signin")))
	if again := p.addresses(); again["ethereum"] != addrs["ethereum"] {
		t.Fatalf("signed in again with the passkey, the page shows %v, want %v", again, addrs)
	}
	msg = "Signed in again with a passkey"
	if got := personalSigner(t, msg, p.signMessage(msg)); got != addrs["ethereum"] {
		t.Fatalf("after signing in again go-ethereum recovers %s, want %s", got, addrs["ethereum"])
	}
	// The passkey's assertion is the re-authentication an export asks for.
	if got := ethAddressOf(t, p.exportPhrase(d, "", 0, "passkey")); got != addrs["ethereum"] {
		t.Fatalf("the exported phrase gives %s, but the page shows %s", got, addrs["ethereum"])
	}
}

var linkRe = regexp.MustCompile(`http://\S+/auth/email/link\?token=[A-Za-z0-9_\-%]+`)

func TestBrowser_ANewUserSignsUpWithAMagicLinkAndGetsAWallet(t *testing.T) {
	b := newBrowser(t)
	d := startDev(t, filepath.Join(t.TempDir(), "data"), freePort(t), nil)
	p := b.tab()
	p.run("open the wallet", chromedp.Navigate(d.url+"/"), chromedp.WaitVisible(chromedp.CSS("#email")))
	p.run("ask for a sign-in mail", chromedp.SendKeys(chromedp.CSS("#email"), "dave@example.com"),
		chromedp.Click(chromedp.CSS("#email-form button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("#code")))
	text, err := d.mailText("dave@example.com", 1)
	if err != nil {
		t.Fatal(err)
	}
	link := linkRe.FindString(text)
	if link == "" {
		t.Fatalf("the sign-in mail has no link: %q", text)
	}
	// The link's page names the account and signs in only on its button:
	// mail scanners that follow links sign nobody in.
	p.run("open the link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#link-signin")))
	if got := p.text("#link-signin"); !strings.Contains(got, "dave@example.com") {
		t.Fatalf("the link's button says %q, want it to name the account", got)
	}
	p.shot("magic-link")
	p.run("sign in", chromedp.Click(chromedp.CSS("#link-signin")))
	addrs := p.addresses()
	msg := "Signed after a magic link"
	if got := personalSigner(t, msg, p.signMessage(msg)); got != addrs["ethereum"] {
		t.Fatalf("go-ethereum recovers %s from the page's signature, but the page shows %s", got, addrs["ethereum"])
	}
}

// startOP starts zitadel's example OpenID Provider on loopback with a
// client for a niomon at publicURL, and writes a niomon config file that
// names it "test".
func startOP(t *testing.T, publicURL string) (configFile string) {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	issuer := "http://" + ts.Listener.Addr().String() + "/"
	ts.Config.Handler = exampleop.SetupServer(issuer, storage.NewStorage(storage.NewUserStore(issuer)), slog.New(slog.DiscardHandler), false, op.WithAllowInsecure())
	ts.Start()
	t.Cleanup(ts.Close)
	storage.RegisterClients(storage.WebClient("niomon-browser", "secret", publicURL+"/v1/auth/oidc/test/callback"))
	dir := t.TempDir()
	secret := filepath.Join(dir, "client-secret")
	if err := os.WriteFile(secret, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]any{"oidc": []map[string]string{{"name": "test", "issuer": issuer, "client_id": "niomon-browser", "client_secret_file": secret}}})
	configFile = filepath.Join(dir, "niomon.json")
	if err := os.WriteFile(configFile, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	return configFile
}

func TestBrowser_ANewUserSignsUpWithAnOIDCProviderAndGetsAWallet(t *testing.T) {
	b := newBrowser(t)
	listen := freePort(t)
	_, port, _ := net.SplitHostPort(listen)
	config := startOP(t, "http://localhost:"+port)
	d := startDev(t, filepath.Join(t.TempDir(), "data"), listen, nil, "--config", config)
	p := b.tab()
	p.run("open the wallet", chromedp.Navigate(d.url+"/"), chromedp.WaitVisible(chromedp.CSS(`a[href="/v1/auth/oidc/test/start"]`)))
	p.run("continue with the provider", chromedp.Click(chromedp.CSS(`a[href="/v1/auth/oidc/test/start"]`)), chromedp.WaitVisible(chromedp.CSS("#username")))
	p.run("sign in at the provider",
		chromedp.SendKeys(chromedp.CSS("#username"), "test-user2"),
		chromedp.SendKeys(chromedp.CSS("#password"), "verysecure"),
		chromedp.Click(chromedp.CSS("button[type=submit]")))
	addrs := p.addresses()
	p.shot("oidc-home")
	msg := "Signed after OIDC"
	if got := personalSigner(t, msg, p.signMessage(msg)); got != addrs["ethereum"] {
		t.Fatalf("go-ethereum recovers %s from the page's signature, but the page shows %s", got, addrs["ethereum"])
	}
}

// approveNewDevice has tab a (a device of the wallet) approve the device
// waiting under code.
func (p *tab) approveNewDevice(code string) {
	p.t.Helper()
	p.run("enter the new device's code",
		chromedp.SendKeys(chromedp.CSS("#pair-code-input"), code),
		chromedp.Click(chromedp.CSS("#pair-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#pair-approve")))
	p.shot("pair-approve")
	p.run("approve", chromedp.Click(chromedp.CSS("#pair-approve")), chromedp.WaitVisible(chromedp.CSS("#pair-code-input")))
}

func TestBrowser_ASecondBrowserApprovedByTheFirstSignsForTheSameAddress(t *testing.T) {
	d := startDev(t, filepath.Join(t.TempDir(), "data"), freePort(t), nil)
	first := newBrowser(t).tab()
	first.signInByEmail(d, "erin@example.com", 1, "")
	addrs := first.addresses()

	// The second browser signs in: a session, the same verified addresses,
	// and no key yet.
	second := newBrowser(t).tab()
	second.signInByEmail(d, "erin@example.com", 2, "")
	if got := second.addresses(); got["ethereum"] != addrs["ethereum"] {
		t.Fatalf("the second browser shows %v, want %v", got, addrs)
	}
	if n := get(second, "look for the sign form", chromedp.Evaluate[int](`document.querySelectorAll('#sign-form').length`)); n != 0 {
		t.Fatal("a browser without a key of the wallet offers to sign")
	}
	second.shot("second-device")
	// Its security screen lists sessions but no keys: it has nothing to
	// check the wallet's receipt against.
	second.run("open security", chromedp.Click(chromedp.CSS("#security")), chromedp.WaitVisible(chromedp.CSS("#sessions li")))
	if n := get(second, "count keys", chromedp.Evaluate[int](`document.querySelectorAll('#keys li').length`)); n != 0 {
		t.Fatalf("a browser without a key lists %d wallet keys", n)
	}
	second.run("back", chromedp.Click(chromedp.CSS("main > button.link")), chromedp.WaitVisible(chromedp.CSS("#pair-start")))
	second.run("ask to join", chromedp.Click(chromedp.CSS("#pair-start")), chromedp.WaitVisible(chromedp.CSS("#pair-code")))
	code := second.text("#pair-code")
	second.shot("pair-code")
	if !regexp.MustCompile(`^[0-9A-Z]{5}-[0-9A-Z]{5}$`).MatchString(code) {
		t.Fatalf("the new device shows code %q, want XXXXX-XXXXX", code)
	}

	first.approveNewDevice(code)

	second.run("joined", chromedp.WaitVisible(chromedp.CSS("#sign-form")))
	msg := "Signed on the second browser"
	if got := personalSigner(t, msg, second.signMessage(msg)); got != addrs["ethereum"] {
		t.Fatalf("go-ethereum recovers %s from the second browser's signature, want %s", got, addrs["ethereum"])
	}
	// The first still signs: the change added a key and removed none.
	msg = "Still signed on the first"
	if got := personalSigner(t, msg, first.signMessage(msg)); got != addrs["ethereum"] {
		t.Fatalf("after the pairing the first browser's signature recovers to %s, want %s", got, addrs["ethereum"])
	}

	// The security screen lists both keys (from the enclave's receipt),
	// both sessions and the pairing in the activity; removing the second
	// browser's key there stops it signing.
	first.run("open security", chromedp.Click(chromedp.CSS("#security")), chromedp.WaitVisible(chromedp.CSS("#keys")))
	count := func(sel string) int {
		return get(first, "count "+sel, chromedp.Evaluate[int](`document.querySelectorAll('`+sel+`').length`))
	}
	if k, s := count("#keys li"), count("#sessions li"); k != 2 || s < 2 {
		t.Fatalf("the security screen lists %d keys and %d sessions, want 2 keys and at least 2 sessions", k, s)
	}
	if a := first.text("#activity"); !strings.Contains(a, "A new device was approved") || !strings.Contains(a, "Wallet created") {
		t.Fatalf("the activity list says %q, want the wallet's creation and the approval", a)
	}
	// The user names this browser's key; the name stays.
	first.run("rename this browser's key", chromedp.Click(chromedp.CSS("#keys li:has(.tag) button.rename")),
		chromedp.WaitVisible(chromedp.CSS(".rename-input")))
	get(first, "clear the name", chromedp.Evaluate[bool](`document.querySelector('.rename-input').value = ''; true`))
	first.run("save the name", chromedp.SendKeys(chromedp.CSS(".rename-input"), "Work laptop"), chromedp.Click(chromedp.CSS(".rename-form button")))
	get(first, "the new name", chromedp.Poll[bool](`[...document.querySelectorAll('#keys .key-name')].some(e => e.textContent === 'Work laptop') || null`, chromedp.WithPollingTimeout(30*time.Second)))
	first.shot("security")
	first.run("remove the second browser's key", chromedp.Click(chromedp.CSS("#keys li button.remove")))
	get(first, "the key is gone", chromedp.Poll[bool](`document.querySelectorAll('#keys li').length === 1 || null`, chromedp.WithPollingTimeout(30*time.Second)))
	get(second, "clear the message", chromedp.Evaluate[bool](`document.getElementById('message').value = ''; true`))
	second.run("sign with the removed key", chromedp.SendKeys(chromedp.CSS("#message"), "after removal"),
		chromedp.Click(chromedp.CSS("#sign-form button[type=submit]")))
	msgErr := second.errorStatus()
	if !strings.Contains(msgErr, "refused") {
		t.Fatalf("signing with the removed key: the page says %q, want a refusal", msgErr)
	}
	if sig := get(second, "the signature", chromedp.Evaluate[string](`document.getElementById('signature').textContent`)); sig != "" {
		t.Fatalf("the removed key still signed: %s", sig)
	}
}

// operatorCredential is the canonical CBOR of a session key the operator
// holds: what a lying server would slip into a pairing.
func operatorCredential(t *testing.T) []byte {
	t.Helper()
	k, err := secretd.NewP256Key(policy.KindSessionKey, time.Now().Add(time.Hour), policy.RightSign, policy.RightExport, policy.RightPolicy)
	if err != nil {
		t.Fatal(err)
	}
	b, err := wire.Marshal(k.Credential())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A server that swaps the key a new device asks to join with (for one it
// holds) is caught by the approving device, which recomputes the code
// from the key; one that swaps the change the new device is to prove is
// caught by the new device.
func TestBrowser_PairingRefusesAKeyOrAChangeTheServerSwapped(t *testing.T) {
	d := startDev(t, filepath.Join(t.TempDir(), "data"), freePort(t), nil)
	swapped := base64.StdEncoding.EncodeToString(operatorCredential(t))
	tests := []struct {
		name string
		lie  func(r *http.Request, body map[string]any)
		// approverRefuses: the approving device refuses (else the new one).
		approverRefuses bool
		want            string
	}{
		{"the key handed to the approving device", func(r *http.Request, body map[string]any) {
			if strings.HasPrefix(r.URL.Path, "/v1/pairings/code/") && r.Method == http.MethodGet {
				body["credential"] = swapped
			}
		}, true, "another key than the one the new device shows"},
		{"the change handed to the new device", func(r *http.Request, body map[string]any) {
			if a, ok := body["approval"].(map[string]any); ok && r.Method == http.MethodGet {
				req, _ := base64.StdEncoding.DecodeString(a["request"].(string))
				a["request"] = base64.StdEncoding.EncodeToString(bytes.Replace(req, []byte("sign"), []byte("sigN"), 1))
			}
		}, false, "does not add exactly this browser's key"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			front := &devStack{url: lyingServerFor(t, d.url, tc.lie)}
			addr := fmt.Sprintf("frank%d@example.com", i)
			first, second := newBrowser(t).tab(), newBrowser(t).tab()
			first.t, second.t = t, t
			first.signInByEmailAt(front, d, addr, 1)
			first.addresses()
			second.signInByEmailAt(front, d, addr, 2)
			second.addresses()
			second.run("ask to join", chromedp.Click(chromedp.CSS("#pair-start")), chromedp.WaitVisible(chromedp.CSS("#pair-code")))
			code := second.text("#pair-code")
			first.run("enter the code", chromedp.SendKeys(chromedp.CSS("#pair-code-input"), code),
				chromedp.Click(chromedp.CSS("#pair-form button[type=submit]")))
			if tc.approverRefuses {
				get(first, "the refusal", chromedp.Poll[bool](`document.getElementById('status').classList.contains('error') || null`, chromedp.WithPollingTimeout(30*time.Second)))
				if msg := first.text("#status"); !strings.Contains(msg, tc.want) {
					t.Fatalf("the approving device says %q, want %q", msg, tc.want)
				}
				if n := get(first, "look for the approve button", chromedp.Evaluate[int](`document.querySelectorAll('#pair-approve').length`)); n != 0 {
					t.Fatal("the approving device offers to approve a key the code does not stand for")
				}
				return
			}
			first.run("approve", chromedp.WaitVisible(chromedp.CSS("#pair-approve")), chromedp.Click(chromedp.CSS("#pair-approve")))
			if msg := second.refused(); !strings.Contains(msg, tc.want) {
				t.Fatalf("the new device says %q, want %q", msg, tc.want)
			}
		})
	}
}

func TestBrowser_ANewUserImportsARecoveryPhraseSealedInTheBrowser(t *testing.T) {
	d := startDev(t, filepath.Join(t.TempDir(), "data"), freePort(t), nil)
	p := newBrowser(t).tab()
	// BIP39's first test vector: its m/44'/60'/0'/0/0 is known.
	const phrase = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
	want := ethAddressOf(t, phrase)
	p.run("open the wallet", chromedp.Navigate(d.url+"/"), chromedp.WaitVisible(chromedp.CSS("#import-start")))
	p.run("choose to import", chromedp.Click(chromedp.CSS("#import-start")))
	p.signInByEmailThrough(d.url, d, "grace@example.com", 1, "", false)
	p.run("the import screen", chromedp.WaitVisible(chromedp.CSS("#phrase-input")))
	p.run("a phrase of 11 words", chromedp.SendKeys(chromedp.CSS("#phrase-input"), strings.TrimSuffix(phrase, " about")),
		chromedp.Click(chromedp.CSS("#import-go")))
	if msg := get(p, "the refusal", chromedp.Poll[string](`document.getElementById('status').classList.contains('error') ? document.getElementById('status').textContent : null`, chromedp.WithPollingTimeout(30*time.Second))); !strings.Contains(msg, "12, 15, 18, 21 or 24 words") {
		t.Fatalf("an 11-word phrase: the page says %q", msg)
	}
	get(p, "clear the phrase", chromedp.Evaluate[bool](`document.getElementById('phrase-input').value = ''; true`))
	p.run("import", chromedp.SendKeys(chromedp.CSS("#phrase-input"), "  "+strings.ToUpper(phrase)+"\n"))
	p.shot("import")
	p.run("submit", chromedp.Click(chromedp.CSS("#import-go")))
	addrs := p.addresses()
	if addrs["ethereum"] != want {
		t.Fatalf("after importing the phrase the page shows %s, but go-bip39 and btcutil derive %s", addrs["ethereum"], want)
	}
	msg := "Signed by an imported wallet"
	if got := personalSigner(t, msg, p.signMessage(msg)); got != want {
		t.Fatalf("go-ethereum recovers %s, want %s", got, want)
	}
}

// An email user adds a passkey on the security screen: it joins the
// wallet (the enclave lists it), and signing in with it on a browser that
// never held the wallet's key signs for the same address.
func TestBrowser_AnEmailUserAddsAPasskeyThatThenSignsInAndSigns(t *testing.T) {
	d := startDev(t, filepath.Join(t.TempDir(), "data"), freePort(t), nil)
	b := newBrowser(t)
	p := b.tab()
	p.signInByEmail(d, "heidi@example.com", 1, "")
	addrs := p.addresses()
	id := p.addAuthenticator()
	p.run("open security", chromedp.Click(chromedp.CSS("#security")), chromedp.WaitVisible(chromedp.CSS("#add-passkey")))
	p.run("add a passkey", chromedp.Click(chromedp.CSS("#add-passkey")))
	get(p, "the passkey is listed", chromedp.Poll[bool](`document.querySelectorAll('#keys li').length === 2 || null`, chromedp.WithPollingTimeout(30*time.Second)))

	// The same passkey, synced to another browser (copied into its virtual
	// authenticator), signs in there and signs without any pairing.
	cred := p.credentialOf(id)
	other := newBrowser(t).tab()
	other.run("open the wallet", chromedp.Navigate(d.url+"/"), chromedp.WaitVisible(chromedp.CSS("#passkey-signin")))
	other.addCredential(other.addAuthenticator(), cred)
	other.run("sign in with the synced passkey", chromedp.Click(chromedp.CSS("#passkey-signin")))
	if got := other.addresses(); got["ethereum"] != addrs["ethereum"] {
		t.Fatalf("signed in with the passkey the page shows %v, want %v", got, addrs)
	}
	msg := "Signed with a synced passkey"
	if got := personalSigner(t, msg, other.signMessage(msg)); got != addrs["ethereum"] {
		t.Fatalf("go-ethereum recovers %s, want %s", got, addrs["ethereum"])
	}
}

// A signature or an export that names another wallet instance than the
// one this browser's key was enrolled in is refused: not shown, not
// opened.
func TestBrowser_APageRefusesASignatureOrAnExportOfAnotherWalletInstance(t *testing.T) {
	d := startDev(t, filepath.Join(t.TempDir(), "data"), freePort(t), nil)
	other := base64.StdEncoding.EncodeToString(make([]byte, 16))
	front := &devStack{url: lyingServerFor(t, d.url, func(r *http.Request, body map[string]any) {
		if r.Method == http.MethodPost && (r.URL.Path == "/v1/wallet/sign" || r.URL.Path == "/v1/wallet/export") {
			body["instance"] = other
		}
	})}
	p := newBrowser(t).tab()
	p.signInByEmailAt(front, d, "ivan@example.com", 1)
	p.addresses()
	p.run("sign", chromedp.SendKeys(chromedp.CSS("#message"), "hello"), chromedp.Click(chromedp.CSS("#sign-form button[type=submit]")))
	errText := `document.getElementById('status').classList.contains('error') ? document.getElementById('status').textContent : null`
	if msg := get(p, "the refusal", chromedp.Poll[string](errText, chromedp.WithPollingTimeout(30*time.Second))); !strings.Contains(msg, "another wallet") {
		t.Fatalf("a signature of another instance: the page says %q", msg)
	}
	if sig := get(p, "the signature", chromedp.Evaluate[string](`document.getElementById('signature').textContent`)); sig != "" {
		t.Fatalf("the page shows a signature of another wallet instance: %s", sig)
	}
	p.run("export", chromedp.Click(chromedp.CSS("#export")), chromedp.WaitVisible(chromedp.CSS("#alone")),
		chromedp.Click(chromedp.CSS("#alone")), chromedp.Click(chromedp.CSS("#export-go")), chromedp.WaitVisible(chromedp.CSS("#export-code")))
	code, err := d.mailCode("ivan@example.com", 2)
	if err != nil {
		t.Fatal(err)
	}
	p.run("enter the code", chromedp.SendKeys(chromedp.CSS("#export-code"), code), chromedp.Click(chromedp.CSS("#export-go")))
	if msg := get(p, "the refusal", chromedp.Poll[string](errText, chromedp.WithPollingTimeout(30*time.Second))); !strings.Contains(msg, "another wallet") {
		t.Fatalf("an export of another instance: the page says %q", msg)
	}
	if n := get(p, "look for words", chromedp.Evaluate[int](`document.querySelectorAll('#phrase li').length`)); n != 0 {
		t.Fatalf("the page shows %d words of an export of another wallet instance", n)
	}
}

// deviceKeyExpiry reads the expiry (Unix seconds) of the device key the
// page keeps in IndexedDB.
func (p *tab) deviceKeyExpiry() int64 {
	p.t.Helper()
	get(p, "read the device key", chromedp.Evaluate[bool](`window.__exp = null;
		(() => { const o = indexedDB.open('niomon', 1); o.onsuccess = () => {
		  const g = o.result.transaction('state').objectStore('state').getAll();
		  g.onsuccess = () => { const d = g.result.find(v => v && v.key && v.key.credential && v.instance); window.__exp = d ? Number(d.key.credential.expires_at) : -1; }; }; })(); true`))
	return int64(get(p, "the key's expiry", chromedp.Poll[float64](`window.__exp`, chromedp.WithPollingTimeout(10*time.Second))))
}

// A device key near its end is renewed by the page: made with 8 days of
// life (a server that said so), it is replaced at the next visit by one
// of the server's full lifetime, in one policy change, and signs on.
func TestBrowser_ADeviceKeyNearItsExpiryIsRenewedAndKeepsSigning(t *testing.T) {
	d := startDev(t, filepath.Join(t.TempDir(), "data"), freePort(t), nil)
	var short atomic.Bool
	short.Store(true)
	front := &devStack{url: lyingServerFor(t, d.url, func(r *http.Request, body map[string]any) {
		if r.URL.Path == "/v1/config" && short.Load() {
			body["session_key_ttl"] = 8 * 24 * 3600
		}
	})}
	p := newBrowser(t).tab()
	p.signInByEmailAt(front, d, "judy@example.com", 1)
	addrs := p.addresses()
	first := p.deviceKeyExpiry()
	if left := time.Until(time.Unix(first, 0)); left > 8*24*time.Hour {
		t.Fatalf("the first key lives %v, want at most 8 days", left)
	}
	short.Store(false)
	p.run("visit again", chromedp.Reload())
	p.addresses()
	if msg := p.text("#status"); !strings.Contains(msg, "renewed") {
		t.Fatalf("after the reload the page says %q, want it to say it renewed its key", msg)
	}
	if renewed := p.deviceKeyExpiry(); time.Until(time.Unix(renewed, 0)) < 80*24*time.Hour {
		t.Fatalf("the renewed key lives until %v, want the server's full lifetime (90 days)", time.Unix(renewed, 0))
	}
	msg := "Signed with a renewed key"
	if got := personalSigner(t, msg, p.signMessage(msg)); got != addrs["ethereum"] {
		t.Fatalf("after renewal go-ethereum recovers %s, want %s", got, addrs["ethereum"])
	}
	p.run("open security", chromedp.Click(chromedp.CSS("#security")), chromedp.WaitVisible(chromedp.CSS("#keys")))
	if n := get(p, "count keys", chromedp.Evaluate[int](`document.querySelectorAll('#keys li').length`)); n != 1 {
		t.Fatalf("after renewal the wallet lists %d keys, want 1 (the old one removed)", n)
	}
}

// A magic link signs in elsewhere than the page, so a browser that last
// used another account asks before it shows the new one; the user who did
// sign in says so and goes on to their own wallet.
func TestBrowser_AMagicLinkToAnotherAccountAsksBeforeShowingIt(t *testing.T) {
	d := startDev(t, filepath.Join(t.TempDir(), "data"), freePort(t), nil)
	p := newBrowser(t).tab()
	p.signInByEmail(d, "kate@example.com", 1, "")
	first := p.addresses()
	p.run("sign out", chromedp.Click(chromedp.CSS("#sign-out")), chromedp.WaitVisible(chromedp.CSS("#email")))
	p.run("ask for a sign-in mail for another address", chromedp.SendKeys(chromedp.CSS("#email"), "leo@example.com\r"), chromedp.WaitVisible(chromedp.CSS("#code")))
	text, err := d.mailText("leo@example.com", 1)
	if err != nil {
		t.Fatal(err)
	}
	p.run("follow the link", chromedp.Navigate(linkRe.FindString(text)), chromedp.WaitVisible(chromedp.CSS("#link-signin")),
		chromedp.Click(chromedp.CSS("#link-signin")), chromedp.WaitVisible(chromedp.CSS("#switch-yes")))
	if n := get(p, "count addresses", chromedp.Evaluate[int](`document.querySelectorAll('.account').length`)); n != 0 {
		t.Fatalf("the page shows %d addresses before the user confirmed the new account", n)
	}
	p.run("confirm", chromedp.Click(chromedp.CSS("#switch-yes")))
	if got := p.addresses(); got["ethereum"] == first["ethereum"] || !ethAddressRe.MatchString(got["ethereum"]) {
		t.Fatalf("after confirming, the page shows %v; want the new account's own wallet", got)
	}
}
