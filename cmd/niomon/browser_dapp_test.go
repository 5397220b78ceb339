package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/base58"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
)

// startDappPage serves a dApp page on ln that loads the SDK (sdk/js/src)
// and makes window.niomon, a provider for the wallet at walletURL.
func startDappPage(t *testing.T, ln net.Listener, walletURL string) {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/sdk/", http.StripPrefix("/sdk/", http.FileServer(http.Dir(filepath.Join("..", "..", "sdk", "js", "src")))))
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>Example dApp</title><body style="font:16px sans-serif;margin:3em"><h1>Example dApp</h1><p id="state">loading</p>
<script type="module">
import { createProvider } from '/sdk/index.js';
window.niomon = createProvider({ walletURL: %q, chains: { '0x1': { chainName: 'Ethereum', rpcUrls: ['https://rpc.invalid'], nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 } } } });
document.getElementById('state').textContent = 'ready';
const r = document.createElement('p'); r.id = 'sdk-ready'; r.textContent = 'The SDK is loaded.'; document.body.append(r);
</script>`, walletURL)
	})
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux}}
	srv.Start()
	t.Cleanup(srv.Close)
}

// seenPopups are the wallet windows the test has attached to;
// popupCancels ends the attachment to one once it has been answered.
var seenPopups, popupCancels sync.Map

func userGesture(p *runtime.EvaluateParams) {
	yes := true
	p.UserGesture = &yes
}

// dappAsk has the dApp page in p start request js (an expression giving a
// promise) as a click would, and returns the wallet's window it opens.
func (p *tab) dappAsk(js string) *tab {
	p.t.Helper()
	ch := chromedp.WaitNewTarget(p.ctx, func(i *target.Info) bool {
		_, old := seenPopups.Load(i.TargetID) // an earlier window, closing, changes its info too
		return i.Type == "page" && strings.HasSuffix(i.URL, "/dapp") && !old
	})
	get(p, "ask the wallet", chromedp.Evaluate[bool](`(window.answer = undefined, window.failure = undefined, (`+js+`).then(r => { window.answer = r; }, e => { window.failure = { code: e.code, message: e.message }; }), true)`, userGesture))
	select {
	case id := <-ch:
		seenPopups.Store(id, true)
		ctx, cancel := chromedp.NewContext(p.ctx, chromedp.WithTargetID(id), chromedp.WithDetachOnCancel())
		popupCancels.Store(ctx, cancel)
		p.t.Cleanup(cancel)
		return &tab{t: p.t, ctx: ctx}
	case <-time.After(30 * time.Second):
		p.t.Fatal("the wallet's window did not open")
		return nil
	}
}

// dappAnswer waits for the dApp's promise: its value, or its error's code
// and message.
func (p *tab) dappAnswer() (answer json.RawMessage, code int, message string) {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		s := get(p, "the answer", chromedp.Evaluate[string](`JSON.stringify({ answer: window.answer, failure: window.failure })`))
		var v struct {
			Answer  json.RawMessage
			Failure *struct {
				Code    int
				Message string
			}
		}
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			p.t.Fatal(err)
		}
		if v.Failure != nil {
			return nil, v.Failure.Code, v.Failure.Message
		}
		if len(v.Answer) > 0 {
			return v.Answer, 0, ""
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatal("the dApp got no answer in 30 s")
	return nil, 0, ""
}

func permitJSON(owner string) string {
	return fmt.Sprintf(`{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],`+
		`"Permit":[{"name":"owner","type":"address"},{"name":"spender","type":"address"},{"name":"value","type":"uint256"},{"name":"nonce","type":"uint256"},{"name":"deadline","type":"uint256"}]},`+
		`"primaryType":"Permit","domain":{"name":"USD Coin","version":"2","chainId":1,"verifyingContract":"0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"},`+
		`"message":{"owner":%q,"spender":"0x1111111254eeb25477b68fb85ed929f73a960582","value":"%s","nonce":0,"deadline":1893456000}}`,
		owner, new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1)).String())
}

// TestBrowser_TheDemoDappConnectsAndItsUserApprovesEachRequestInTheWallet:
// the demo dApp niomon dev serves at its own origin finds the wallet
// through EIP-6963, connects, and asks for a personal_sign, an EIP-2612
// permit with an unlimited amount and an EIP-1559 transaction. The
// wallet's window shows who asks and what; viem in the page verifies
// each answer, and go-ethereum checks them again here. A rejection
// reaches the dApp as 4001.
func TestBrowser_TheDemoDappConnectsAndItsUserApprovesEachRequestInTheWallet(t *testing.T) {
	b := newBrowser(t)
	d := startDev(t, filepath.Join(t.TempDir(), "data"), freePort(t), nil)
	p := b.tab()
	p.signInByEmail(d, "alice@example.com", 1, "")
	addrs := p.addresses()
	var screens []screen

	// The picker finds Niomon by EIP-6963.
	p.run("open the demo dApp", chromedp.Navigate(d.demo+"/"), chromedp.WaitVisible(chromedp.CSS(`#wallets button[data-rdns="io.niomon"]`)))
	if got := p.text(`#wallets button[data-rdns="io.niomon"]`); !strings.Contains(got, "Niomon") || !strings.Contains(got, "io.niomon") {
		t.Fatalf("the EIP-6963 picker lists %q, want Niomon (io.niomon)", got)
	}
	p.shot("demo-dapp-picker")

	// Connect.
	w := p.dappAsk(`demo.connect()`)
	seen := w.answerPopup("#dapp-approve", []string{"#dapp-app"}, "#dapp-approve")
	screens = append(screens, screen{"dapp-connect", seen["html"]})
	if got := seen["#dapp-app"]; !strings.Contains(got, "Niomon demo dApp") || !strings.Contains(got, d.demo) || !strings.Contains(got, "verified") {
		t.Fatalf("the connect screen names %q, want the verified demo app and its origin", got)
	}
	if !regexp.MustCompile(`<img [^>]*id="dapp-icon"[^>]*src="data:image/png;base64,`).MatchString(seen["html"]) {
		t.Fatal("the connect screen shows no icon of the app (or it did not load from the server)")
	}
	answer, code, msg := p.dappAnswer()
	var accounts []string
	if code != 0 || json.Unmarshal(answer, &accounts) != nil || len(accounts) != 1 || !strings.EqualFold(accounts[0], addrs["ethereum"]) {
		t.Fatalf("eth_requestAccounts: %s %d %s, want the wallet's address %s", answer, code, msg, addrs["ethereum"])
	}
	account := accounts[0]

	// personal_sign, approved: viem's verifyMessage in the page, and
	// go-ethereum here.
	var signed struct {
		Signature string
		Raw       string
		Sender    string
		Valid     bool
	}
	w = p.dappAsk(`demo.signMessage()`)
	seen = w.answerPopup("#dapp-approve", []string{"#dapp-message"}, "#dapp-approve")
	screens = append(screens, screen{"dapp-personal-sign", seen["html"]})
	text := "Welcome to the Niomon demo dApp.\n\nSigning this proves you hold this account. It costs nothing."
	if got := seen["#dapp-message"]; got != text {
		t.Fatalf("the wallet shows %q, want the decoded text", got)
	}
	answer, code, msg = p.dappAnswer()
	if code != 0 || json.Unmarshal(answer, &signed) != nil || !signed.Valid {
		t.Fatalf("personal_sign: %s %d %s, want a signature viem verifies", answer, code, msg)
	}
	if got := p.text("#message-result"); !strings.Contains(got, "verifyMessage says the signature is valid") {
		t.Fatalf("the demo shows %q", got)
	}
	if got := personalSigner(t, text, signed.Signature); !strings.EqualFold(got, account) {
		t.Fatalf("go-ethereum recovers %s from the signature, want %s", got, account)
	}

	// personal_sign, rejected: 4001, and the demo says so.
	w = p.dappAsk(`demo.signMessage()`)
	w.answerPopup("#dapp-reject", nil, "#dapp-reject")
	if _, code, msg = p.dappAnswer(); code != 4001 {
		t.Fatalf("a rejection reached the dApp as %d %q, want 4001", code, msg)
	}
	if got := p.text("#message-result"); !strings.HasPrefix(got, "Rejected (4001)") {
		t.Fatalf("after a rejection the demo shows %q", got)
	}

	// An unlimited EIP-2612 permit: the warning, then a signature viem's
	// verifyTypedData accepts and go-ethereum verifies with EIP-712 hashing.
	w = p.dappAsk(`demo.signPermit()`)
	seen = w.answerPopup("#dapp-approve", []string{"#dapp-unlimited", "#dapp-shape", "#dapp-summary"}, "#dapp-approve")
	screens = append(screens, screen{"dapp-permit", seen["html"]})
	if got := seen["#dapp-unlimited"]; !strings.Contains(got, "Unlimited approval") {
		t.Fatalf("the permit screen warns %q", got)
	}
	if got := seen["#dapp-shape"]; !strings.Contains(got, "EIP-2612 permit") {
		t.Fatalf("the permit screen names it %q", got)
	}
	for _, want := range []string{"TokenUSD Coin at 0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48", "Spender0x1111111254eeb25477b68fb85ed929f73a960582", "Amountunlimited", "Deadline2030-01-01 00:00:00 UTC"} {
		if !strings.Contains(seen["#dapp-summary"], want) {
			t.Fatalf("the permit's summary %q does not show %q", seen["#dapp-summary"], want)
		}
	}
	answer, code, msg = p.dappAnswer()
	if code != 0 || json.Unmarshal(answer, &signed) != nil || !signed.Valid {
		t.Fatalf("eth_signTypedData_v4: %s %d %s, want a signature viem verifies", answer, code, msg)
	}
	if got := typedSigner(t, permitJSON(account), signed.Signature); !strings.EqualFold(got, account) {
		t.Fatalf("go-ethereum recovers %s from the permit's signature, want %s", got, account)
	}

	// An EIP-1559 transaction calling transfer on USDC: the screen names
	// the chain, the function and its arguments; viem recovers the sender
	// from the signed bytes, and so does go-ethereum.
	w = p.dappAsk(`demo.signTransaction()`)
	seen = w.answerPopup("#dapp-approve", []string{"#dapp-tx", "#dapp-function"}, "#dapp-approve")
	screens = append(screens, screen{"dapp-transaction", seen["html"]})
	if got := seen["#dapp-function"]; got != "transfer(address to, uint256 amount)" {
		t.Fatalf("the transaction screen names the call %q", got)
	}
	for _, want := range []string{"Ethereum", "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48", "0 ETH", "to0x2222222222222222222222222222222222222222", "amount1500000 (in the token's smallest unit)", "at most 0.0018 ETH"} {
		if !strings.Contains(seen["#dapp-tx"], want) {
			t.Fatalf("the transaction screen %q does not show %q", seen["#dapp-tx"], want)
		}
	}
	answer, code, msg = p.dappAnswer()
	if code != 0 || json.Unmarshal(answer, &signed) != nil || !signed.Valid || !strings.EqualFold(signed.Sender, account) {
		t.Fatalf("eth_signTransaction: %s %d %s, want a transaction viem recovers the account from", answer, code, msg)
	}
	raw, err := hex.DecodeString(strings.TrimPrefix(signed.Raw, "0x"))
	if err != nil {
		t.Fatal(err)
	}
	var tx types.Transaction
	if err := tx.UnmarshalBinary(raw); err != nil {
		t.Fatal(err)
	}
	from, err := types.Sender(types.LatestSignerForChainID(tx.ChainId()), &tx)
	if err != nil || !strings.EqualFold(from.Hex(), account) || tx.Type() != types.DynamicFeeTxType || tx.ChainId().Int64() != 1 || tx.Gas() != 60000 {
		t.Fatalf("go-ethereum reads the transaction as type %d, chain %v, gas %d, from %s (%v)", tx.Type(), tx.ChainId(), tx.Gas(), from.Hex(), err)
	}
	if got := p.text("#tx-result"); !strings.Contains(got, "viem recovers the sender") {
		t.Fatalf("the demo shows %q", got)
	}

	// Solana, through the wallet-standard: connect, a message and a
	// transfer, each checked by the browser's Ed25519 in the page and by
	// Go's crypto/ed25519 here.
	if got := p.text("#solana-found"); !strings.Contains(got, "Niomon") {
		t.Fatalf("the demo's wallet-standard list says %q", got)
	}
	w = p.dappAsk(`demo.solanaConnect()`)
	seen = w.answerPopup("#dapp-approve", []string{"main"}, "#dapp-approve")
	screens = append(screens, screen{"dapp-solana-connect", seen["html"]})
	if !strings.Contains(seen["main"], addrs["solana"]) {
		t.Fatalf("the Solana connect screen shows %q, want the address %s", seen["main"], addrs["solana"])
	}
	var sol struct {
		Address     string
		Signature   string
		Transaction string
		Valid       bool
	}
	answer, code, msg = p.dappAnswer()
	if code != 0 || json.Unmarshal(answer, &sol) != nil || sol.Address != addrs["solana"] {
		t.Fatalf("solana connect: %s %d %s, want %s", answer, code, msg, addrs["solana"])
	}
	pub := ed25519.PublicKey(base58.Decode(addrs["solana"]))
	if len(pub) != ed25519.PublicKeySize {
		t.Fatalf("the Solana address %s is not a key", addrs["solana"])
	}
	w = p.dappAsk(`demo.solanaSignMessage()`)
	seen = w.answerPopup("#dapp-approve", []string{"#dapp-message"}, "#dapp-approve")
	solText := "Welcome to the Niomon demo dApp, on Solana."
	if seen["#dapp-message"] != solText {
		t.Fatalf("the wallet shows the Solana message as %q", seen["#dapp-message"])
	}
	answer, code, msg = p.dappAnswer()
	if code != 0 || json.Unmarshal(answer, &sol) != nil || !sol.Valid || !ed25519.Verify(pub, []byte(solText), base58.Decode(sol.Signature)) {
		t.Fatalf("solana signMessage: %s %d %s, want a signature Ed25519 verifies", answer, code, msg)
	}
	w = p.dappAsk(`demo.solanaSignTransaction()`)
	seen = w.answerPopup("#dapp-approve", []string{"#dapp-instructions", "#dapp-tx"}, "#dapp-approve")
	screens = append(screens, screen{"dapp-solana-transaction", seen["html"]})
	if want := "Send 0.01 SOL from " + addrs["solana"] + " (you) to 8qbHbw2BbbTHBW1sbeqakYXVKRQM8Ne7pLK7m6CVfeR"; seen["#dapp-instructions"] != want {
		t.Fatalf("the Solana transaction screen says %q, want %q", seen["#dapp-instructions"], want)
	}
	if !strings.Contains(seen["#dapp-tx"], "Solana Devnet") || !strings.Contains(seen["#dapp-tx"], addrs["solana"]+" (you)") {
		t.Fatalf("the Solana transaction screen shows %q, want the network and the fee payer", seen["#dapp-tx"])
	}
	answer, code, msg = p.dappAnswer()
	if code != 0 || json.Unmarshal(answer, &sol) != nil || !sol.Valid {
		t.Fatalf("solana signTransaction: %s %d %s", answer, code, msg)
	}
	signedTx, err := base64.StdEncoding.DecodeString(sol.Transaction)
	if err != nil || len(signedTx) < 65+3 || signedTx[0] != 1 || !ed25519.Verify(pub, signedTx[65:], signedTx[1:65]) {
		t.Fatalf("the signed Solana transaction (%d bytes, %v) does not verify with Ed25519 over its message", len(signedTx), err)
	}

	p.shot("demo-dapp-results")
	for _, s := range screens {
		p.shotScreen(s, d.url)
	}
}

// TestBrowser_TheSDKAtAnUnregisteredOrALookAlikeOriginIsRefusedWithTheReason:
// the same SDK page served from an origin no app registered gets 4100,
// and from a look-alike of a protected domain (app.un1swap.org, which the
// browser resolves to loopback, against uniswap.org on the operator's
// list) the wallet blocks it; in both the user reads why.
func TestBrowser_TheSDKAtAnUnregisteredOrALookAlikeOriginIsRefusedWithTheReason(t *testing.T) {
	b := newBrowser(t)
	dir := t.TempDir()
	list := filepath.Join(dir, "protect.json")
	if err := os.WriteFile(list, []byte(`{"version": 2, "tolerance": 1, "fuzzylist": ["uniswap.org"], "blocklist": [], "allowlist": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "niomon.json")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`{"phishing": {"lists": [{"name": "ops-list", "file": %q}]}}`, list)), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDev(t, filepath.Join(dir, "data"), freePort(t), nil, "--config", config)
	p := b.tab()
	p.signInByEmail(d, "alice@example.com", 1, "")
	p.addresses()

	for _, c := range []struct {
		name, host, title, reason string
		code                      int
	}{
		{"dapp-unregistered", "127.0.0.1", "Not a registered app", "is not the origin of an app registered with Niomon", 4100},
		{"dapp-lookalike", lookAlikeHost, "Blocked", "app.un1swap.org is spelled almost like uniswap.org, a domain the list ops-list protects", 4001},
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		startDappPage(t, ln, d.url)
		p.run("open "+c.name, chromedp.Navigate("http://"+c.host+":"+portOf(ln)+"/"), chromedp.WaitVisible(chromedp.CSS("#sdk-ready")))
		w := p.dappAsk(`niomon.request({ method: 'eth_requestAccounts' })`)
		seen := w.answerPopup("#dapp-reason", []string{"#dapp-refused", "#dapp-reason"}, "")
		if seen["#dapp-refused"] != c.title || !strings.Contains(seen["#dapp-reason"], c.reason) {
			t.Fatalf("%s: the wallet shows %q: %q, want %q and %q", c.name, seen["#dapp-refused"], seen["#dapp-reason"], c.title, c.reason)
		}
		if _, code, msg := p.dappAnswer(); code != c.code || !strings.Contains(msg, c.reason) {
			t.Fatalf("%s: the dApp got %d %q, want %d with the reason", c.name, code, msg, c.code)
		}
		p.shotScreen(screen{c.name, seen["html"]}, d.url)
	}
}

// typedSigner recovers, with go-ethereum's EIP-712 hashing, the address
// that signed typed data (JSON) with sig (0x r ‖ s ‖ v, v = 27 or 28).
func typedSigner(t *testing.T, typedData, sig string) string {
	t.Helper()
	var td apitypes.TypedData
	if err := json.Unmarshal([]byte(typedData), &td); err != nil {
		t.Fatal(err)
	}
	digest, _, err := apitypes.TypedDataAndHash(td)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := hex.DecodeString(strings.TrimPrefix(sig, "0x"))
	if err != nil || len(raw) != 65 {
		t.Fatalf("the typed-data signature %q", sig)
	}
	raw[64] -= 27
	pub, err := crypto.SigToPub(digest, raw)
	if err != nil {
		t.Fatal(err)
	}
	return crypto.PubkeyToAddress(*pub).Hex()
}

// screen is a wallet window's screen as the test answered it.
type screen struct{ name, html string }

// shotScreen keeps a wallet window's screen: its HTML (name.html) and,
// since a hidden popup draws no frames to capture in headless Chromium,
// screenshots of that HTML drawn in this tab with the wallet's stylesheet
// (scripts removed, so it is the screen as the user saw it, frozen).
// It navigates this tab away: a dApp page's pending requests go with it.
func (p *tab) shotScreen(s screen, walletURL string) {
	p.t.Helper()
	if err := os.WriteFile(filepath.Join(artifacts(p.t), s.name+".html"), []byte(s.html), 0o644); err != nil {
		p.t.Fatal(err)
	}
	// The wallet's assets are same-origin only (Cross-Origin-Resource-
	// Policy), so the stylesheet goes in inline.
	resp, err := http.Get(walletURL + "/assets/app.css")
	if err != nil {
		p.t.Fatal(err)
	}
	css, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		p.t.Fatalf("the wallet's stylesheet: %d %v", resp.StatusCode, err)
	}
	frozen := regexp.MustCompile(`(?s)<script\b.*?</script>|<link rel="stylesheet"[^>]*>`).ReplaceAllString(s.html, "")
	frozen = strings.Replace(frozen, "<head>", "<head><style>"+string(css)+"</style>", 1)
	p.run("draw "+s.name, chromedp.Navigate("data:text/html;base64,"+base64.StdEncoding.EncodeToString([]byte(frozen))), chromedp.WaitVisible(chromedp.CSS("main")))
	p.shot(s.name)
}

// The wallet's popup is a hidden tab in headless Chromium: it draws no
// frames, so actions that wait for one (WaitVisible, Click, screenshots)
// stall there. These act on it with script alone.

// answerPopup does, in one evaluation (a hidden popup target answers one
// CDP command, then stalls), what the user does in the wallet's window:
// waits for sel, reads the text of each of read, and clicks press (none
// when ""). It returns the texts by selector. With after, it then waits
// for that element too and returns its text and the screen then (as
// "after" and "htmlAfter").
func (p *tab) answerPopup(sel string, read []string, press string, after ...string) map[string]string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 40*time.Second)
	defer cancel()
	// A window opened while the browser is being driven may wait for a
	// debugger before it runs.
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, runtime.RunIfWaitingForDebugger, cdp.Empty{})
		return err
	})); err != nil {
		p.t.Logf("runIfWaitingForDebugger: %v", err)
	}
	// An evaluation sent while the window is still loading its page
	// never returns: let it load first.
	time.Sleep(2 * time.Second)
	if read == nil {
		read = []string{}
	}
	readJS, _ := json.Marshal(read)
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`new Promise((resolve) => {
		const f = () => {
			if (!document.querySelector(%q) || ![...document.images].every((i) => i.complete)) { setTimeout(f, 50); return; }
			// Images go into the saved screen as data: URLs (drawn
			// again outside the wallet's origin, they would not load).
			for (const img of document.images) {
				if (!img.naturalWidth) continue;
				const c = document.createElement('canvas');
				c.width = img.naturalWidth;
				c.height = img.naturalHeight;
				c.getContext('2d').drawImage(img, 0, 0);
				img.src = c.toDataURL();
			}
			const out = {};
			for (const r of %s) out[r] = ((document.querySelector(r) || {}).textContent || '').trim();
			out.html = document.documentElement.outerHTML;
			const b = %q && document.querySelector(%q);
			if (b) b.click();
			const after = %q;
			if (!after) { resolve(JSON.stringify(out)); return; }
			const g = () => {
				const a = document.querySelector(after);
				if (!a) { setTimeout(g, 50); return; }
				out.after = a.textContent.trim();
				out.htmlAfter = document.documentElement.outerHTML;
				resolve(JSON.stringify(out));
			};
			g();
		};
		f();
	})`, sel, readJS, press, press, strings.Join(after, ", ")), chromedp.EvalAwaitPromise, userGesture))
	if err != nil {
		ctx2, cancel2 := context.WithTimeout(p.ctx, 5*time.Second)
		defer cancel2()
		body, err2 := chromedp.Run(ctx2, chromedp.Evaluate[string](`location.href + ' | ' + document.body.innerText`))
		p.t.Fatalf("%s did not appear in the wallet's window: %v (it shows %q, %v)", sel, err, body, err2)
	}
	if c, ok := popupCancels.LoadAndDelete(p.ctx); ok {
		c.(context.CancelFunc)()
	}
	var out map[string]string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		p.t.Fatal(err)
	}
	return out
}

// TestBrowser_WherePopupsAreBlockedThePageGoesToTheWalletAndBackToItsRegisteredURL:
// with window.open blocked, the SDK sends the demo page to the wallet
// with the request in its address; the wallet serves it (saying it came
// in a link) only because the demo app registered that page as a
// redirect URI, and goes back to it with the answer, which viem checks in
// the page. A rejection comes back as 4001. A crafted link that would
// answer at another page of the app's origin (an open redirect, say) is
// not answered; one that names the registered page but a request the page
// never sent is answered into nothing: the page ignores it.
func TestBrowser_WherePopupsAreBlockedThePageGoesToTheWalletAndBackToItsRegisteredURL(t *testing.T) {
	b := newBrowser(t)
	d := startDev(t, filepath.Join(t.TempDir(), "data"), freePort(t), nil)
	p := b.tab()
	p.signInByEmail(d, "alice@example.com", 1, "")
	addrs := p.addresses()
	askBlocked := func(what, call string) {
		t.Helper()
		// Connected, the demo hides its picker; the SDK still announces.
		p.run("open the demo dApp", chromedp.Navigate(d.demo+"/"), chromedp.WaitReady(chromedp.CSS(`#wallets button[data-rdns="io.niomon"]`)))
		_ = get(p, what, chromedp.Evaluate[string](`(window.open = () => null, `+call+`.catch(() => {}), 'asked')`))
		p.run(what+": the wallet's page", chromedp.WaitVisible(chromedp.CSS("#dapp-linked")))
	}
	backOnDemo := func(what string) {
		t.Helper()
		p.run(what+": back on the demo", chromedp.WaitVisible(chromedp.CSS("#account")))
		if u := get(p, "the address", chromedp.Evaluate[string](`location.href`)); u != d.demo+"/" {
			t.Fatalf("%s: the page is at %s, want %s/ with the answer gone from the address", what, u, d.demo)
		}
	}

	askBlocked("connect", "demo.connect()")
	if got := p.text("#dapp-app"); !strings.Contains(got, "Niomon demo dApp") || !strings.Contains(got, d.demo) {
		t.Fatalf("the linked connect screen names %q", got)
	}
	if got := p.text("#dapp-linked"); !strings.Contains(got, "came in a link") || !strings.Contains(got, d.demo) {
		t.Fatalf("the linked request's notice says %q", got)
	}
	p.shot("dapp-linked-connect")
	p.run("approve the connection", chromedp.Click(chromedp.CSS("#dapp-approve")))
	backOnDemo("connect")
	if got := p.text("#account"); !strings.EqualFold(got, addrs["ethereum"]) {
		t.Fatalf("the demo is connected to %q, want %s", got, addrs["ethereum"])
	}

	askBlocked("personal_sign", "demo.signMessage()")
	if got := p.text("#dapp-message"); got == "" {
		t.Fatal("the linked personal_sign screen shows no message")
	}
	p.run("approve the message", chromedp.Click(chromedp.CSS("#dapp-approve")))
	backOnDemo("personal_sign")
	if got := p.text("#message-result"); !strings.Contains(got, "verifyMessage says the signature is valid") {
		t.Fatalf("after the round trip the demo says %q, want viem's verifyMessage to accept the signature", got)
	}

	askBlocked("a rejected personal_sign", "demo.signMessage()")
	p.run("reject the message", chromedp.Click(chromedp.CSS("#dapp-reject")))
	backOnDemo("a rejected personal_sign")
	if got := p.text("#message-result"); !strings.Contains(got, "(4001)") {
		t.Fatalf("after a rejection the demo says %q, want 4001", got)
	}

	link := func(id, back string) string {
		req, _ := json.Marshal(map[string]any{"niomon": 1, "type": "request", "id": id, "method": "personal_sign",
			"params": []any{"0x68656c6c6f", addrs["ethereum"]}, "return": back})
		return d.url + "/dapp#niomon-request=" + base64.RawURLEncoding.EncodeToString(req)
	}
	p.run("open a link that answers at another page of the demo's origin", chromedp.Navigate(link("attacker", d.demo+"/go?to=http://127.0.0.1:1/steal")), chromedp.WaitVisible(chromedp.CSS("#dapp-refused")))
	if got := p.text("#dapp-reason"); !strings.Contains(got, "has not registered that address") || !strings.Contains(got, d.demo+"/go?to=") {
		t.Fatalf("the wallet says %q", got)
	}
	if n := get(p, "approve buttons", chromedp.Evaluate[int](`document.querySelectorAll('#dapp-approve').length`)); n != 0 {
		t.Fatal("the wallet offers to approve a request that would answer at an unregistered page")
	}
	p.shot("dapp-linked-request-refused")
	time.Sleep(500 * time.Millisecond)
	if u := get(p, "the address", chromedp.Evaluate[string](`location.href`)); !strings.HasPrefix(u, d.url+"/dapp") {
		t.Fatalf("the wallet sent the user on: %s", u)
	}

	p.run("open a link that names the registered page and a made-up request", chromedp.Navigate("about:blank"), chromedp.Navigate(link("f00dfeed", d.demo+"/")), chromedp.WaitVisible(chromedp.CSS("#dapp-linked")))
	p.run("approve it", chromedp.Click(chromedp.CSS("#dapp-approve")))
	backOnDemo("a made-up request")
	time.Sleep(time.Second)
	if got := get(p, "the demo's results", chromedp.Evaluate[string](`document.getElementById('message-result').textContent`)); got != "" {
		t.Fatalf("the demo took an answer to a request it never sent: %q", got)
	}
}

// TestBrowser_AnApprovalTransactionIsCalledOutAndOddDataIsWarnedAbout: a
// limited approve gets the approval notice; approve(2^128) with a byte
// after its arguments (which Solidity ignores) gets the unlimited alert
// and the warning about the extra byte. The dApp asks, one request after
// the other from one page, through the provider EIP-6963 announces; the
// user rejects each, and the dApp hears 4001 each time.
func TestBrowser_AnApprovalTransactionIsCalledOutAndOddDataIsWarnedAbout(t *testing.T) {
	word := func(hex string) string { return strings.Repeat("0", 64-len(hex)) + hex }
	spender := word(strings.Repeat("33", 20))
	d := startDev(t, filepath.Join(t.TempDir(), "data"), freePort(t), nil)
	p := newBrowser(t).tab()
	p.signInByEmail(d, "approvals@example.com", 1, "")
	account := p.addresses()["ethereum"]
	p.connectDemo(d)
	var screens []screen
	for _, c := range []struct {
		name, data string
		want       map[string]string // element: words it shows
		absent     string
	}{
		{"dapp-approve-limited", "0x095ea7b3" + spender + word("64"), map[string]string{"#dapp-approval": "This is an approval", "#dapp-function": "approve("}, "#dapp-unlimited"},
		{"dapp-approve-odd", "0x095ea7b3" + spender + word("1"+strings.Repeat("0", 32)) + "00", map[string]string{"#dapp-unlimited": "Unlimited approval", "#dapp-malformed": "1 bytes follow approve"}, "#dapp-approval"},
	} {
		tx := fmt.Sprintf(`{"from":%q,"to":"0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48","nonce":"0x0","gas":"0xea60","maxFeePerGas":"0x3b9aca00","maxPriorityFeePerGas":"0x1","data":%q}`, account, c.data)
		w := p.dappAsk(`new Promise((found) => {
			window.addEventListener('eip6963:announceProvider', (e) => { if (e.detail.info.rdns === 'io.niomon') found(e.detail.provider); });
			window.dispatchEvent(new Event('eip6963:requestProvider'));
		}).then((provider) => provider.request({ method: 'eth_signTransaction', params: [` + tx + `] }))`)
		read := []string{c.absent}
		for sel := range c.want {
			read = append(read, sel)
		}
		seen := w.answerPopup("#dapp-reject", read, "#dapp-reject")
		for sel, words := range c.want {
			if !strings.Contains(seen[sel], words) {
				t.Fatalf("%s: %s shows %q, want %q", c.name, sel, seen[sel], words)
			}
		}
		if seen[c.absent] != "" {
			t.Fatalf("%s: %s shows %q, want nothing", c.name, c.absent, seen[c.absent])
		}
		if _, code, msg := p.dappAnswer(); code != 4001 {
			t.Fatalf("%s: the dApp got %d %q, want 4001", c.name, code, msg)
		}
		screens = append(screens, screen{c.name, seen["html"]})
	}
	// Drawn last: drawing a screen takes the dApp's tab.
	for _, s := range screens {
		p.shotScreen(s, d.url)
	}
}
