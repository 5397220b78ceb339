package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"

	"github.com/niomon/niomon/internal/authdb"
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

// TestBrowser_ADappConnectsAndItsUserApprovesEachSignatureInTheWallet: a
// dApp page with the SDK asks for accounts, a personal_sign and an
// EIP-2612 permit with an unlimited amount; the wallet's window shows who
// asks and what, and go-ethereum verifies each signature against the
// account; a rejection reaches the dApp as 4001; the same page at an
// unregistered origin is refused with the reason.
func TestBrowser_ADappConnectsAndItsUserApprovesEachSignatureInTheWallet(t *testing.T) {
	b := newBrowser(t)
	data := filepath.Join(t.TempDir(), "data")
	d := startDev(t, data, freePort(t), nil)
	p := b.tab()
	p.signInByEmail(d, "alice@example.com", 1, "")
	addrs := p.addresses()

	// alice's own app, in development mode, at http://localhost:PORT.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := "http://localhost:" + portOf(ln)
	devApp(t, data, "alice@example.com", authdb.App{Name: "Example dApp", Contact: "alice@example.com", Origins: []authdb.AppOrigin{{Origin: origin}}}, authdb.AppPending)
	startDappPage(t, ln, d.url)
	p.run("open the dApp", chromedp.Navigate(origin+"/"), chromedp.WaitVisible(chromedp.CSS("#sdk-ready")))

	// Connect.
	w := p.dappAsk(`niomon.request({ method: 'eth_requestAccounts' })`)
	seen := w.answerPopup("#dapp-approve", []string{"#dapp-app"}, "#dapp-approve")
	saveScreen(t, "dapp-connect", seen["html"])
	if got := seen["#dapp-app"]; !strings.Contains(got, "Example dApp") || !strings.Contains(got, origin) {
		t.Fatalf("the connect screen names %q, want the app and its origin", got)
	}
	answer, code, msg := p.dappAnswer()
	var accounts []string
	if code != 0 || json.Unmarshal(answer, &accounts) != nil || len(accounts) != 1 || !strings.EqualFold(accounts[0], addrs["ethereum"]) {
		t.Fatalf("eth_requestAccounts: %s %d %s, want the wallet's address %s", answer, code, msg, addrs["ethereum"])
	}

	// personal_sign, approved.
	text := "Hello from Example dApp"
	w = p.dappAsk(fmt.Sprintf(`niomon.request({ method: 'personal_sign', params: ['0x%s', %q] })`, hex.EncodeToString([]byte(text)), accounts[0]))
	seen = w.answerPopup("#dapp-approve", []string{"#dapp-message"}, "#dapp-approve")
	saveScreen(t, "dapp-personal-sign", seen["html"])
	if got := seen["#dapp-message"]; got != text {
		t.Fatalf("the wallet shows %q, want the decoded text", got)
	}
	answer, code, msg = p.dappAnswer()
	var sig string
	if code != 0 || json.Unmarshal(answer, &sig) != nil {
		t.Fatalf("personal_sign: %s %d %s", answer, code, msg)
	}
	if got := personalSigner(t, text, sig); !strings.EqualFold(got, accounts[0]) {
		t.Fatalf("go-ethereum recovers %s from the signature, want %s", got, accounts[0])
	}

	// personal_sign, rejected: 4001.
	w = p.dappAsk(fmt.Sprintf(`niomon.request({ method: 'personal_sign', params: ['0x6869', %q] })`, accounts[0]))
	w.answerPopup("#dapp-reject", nil, "#dapp-reject")
	if _, code, msg = p.dappAnswer(); code != 4001 {
		t.Fatalf("a rejection reached the dApp as %d %q, want 4001", code, msg)
	}

	// An unlimited EIP-2612 permit: the warning, then a signature go-ethereum
	// verifies for the typed data.
	permit := permitJSON(accounts[0])
	w = p.dappAsk(fmt.Sprintf(`niomon.request({ method: 'eth_signTypedData_v4', params: [%q, %q] })`, accounts[0], permit))
	seen = w.answerPopup("#dapp-approve", []string{"#dapp-unlimited"}, "#dapp-approve")
	saveScreen(t, "dapp-permit", seen["html"])
	if got := seen["#dapp-unlimited"]; !strings.Contains(got, "Unlimited approval") {
		t.Fatalf("the permit screen warns %q", got)
	}
	answer, code, msg = p.dappAnswer()
	if code != 0 || json.Unmarshal(answer, &sig) != nil {
		t.Fatalf("eth_signTypedData_v4: %s %d %s", answer, code, msg)
	}
	var td apitypes.TypedData
	if err := json.Unmarshal([]byte(permit), &td); err != nil {
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
	if err != nil || !strings.EqualFold(crypto.PubkeyToAddress(*pub).Hex(), accounts[0]) {
		t.Fatalf("go-ethereum does not recover the account from the permit's signature: %v", err)
	}

	// The same page at an origin no app registered: refused, with the reason.
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	startDappPage(t, other, d.url)
	p.run("open the unregistered copy", chromedp.Navigate("http://127.0.0.1:"+portOf(other)+"/"), chromedp.WaitVisible(chromedp.CSS("#sdk-ready")))
	w = p.dappAsk(`niomon.request({ method: 'eth_requestAccounts' })`)
	seen = w.answerPopup("#dapp-reason", []string{"#dapp-reason"}, "")
	saveScreen(t, "dapp-unregistered", seen["html"])
	got := seen["#dapp-reason"]
	if !strings.Contains(got, "not the origin of an app registered") {
		t.Fatalf("the wallet tells the user %q", got)
	}
	if _, code, msg = p.dappAnswer(); code != 4100 {
		t.Fatalf("an unregistered origin got %d %q, want 4100", code, msg)
	}
}

// saveScreen keeps a wallet window's screen, as its HTML was when the
// test answered it, beside the screenshots (name.html): a hidden popup
// draws no frames to capture, in headless Chromium.
func saveScreen(t *testing.T, name, html string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(artifacts(t), name+".html"), []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The wallet's popup is a hidden tab in headless Chromium: it draws no
// frames, so actions that wait for one (WaitVisible, Click, screenshots)
// stall there. These act on it with script alone.

// answerPopup does, in one evaluation (a hidden popup target answers one
// CDP command, then stalls), what the user does in the wallet's window:
// waits for sel, reads the text of each of read, and clicks press (none
// when ""). It returns the texts by selector.
func (p *tab) answerPopup(sel string, read []string, press string) map[string]string {
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
			if (!document.querySelector(%q)) { setTimeout(f, 50); return; }
			const out = {};
			for (const r of %s) out[r] = ((document.querySelector(r) || {}).textContent || '').trim();
			out.html = document.documentElement.outerHTML;
			const b = %q && document.querySelector(%q);
			if (b) b.click();
			resolve(JSON.stringify(out));
		};
		f();
	})`, sel, readJS, press, press), chromedp.EvalAwaitPromise, userGesture))
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
