package main

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// removeKey checks the removal with the next receipt the server hands
// over: it wants that receipt to name the user and not list the removed
// key, but not to be newer than the version the change was written
// against, of the pinned instance, or to list this browser's key. A
// server that drops the stamped removal and replays the wallet's receipt
// from before the key was added gets "Removed. That key can no longer use
// your wallet." on the screen, while the key stays in the wallet (and the
// page even lowers its pinned version to the replayed one, so later
// rollbacks pass too).
func TestBrowserAttack_RemovingAKeyIsNotConfirmedByAReplayedOlderReceipt(t *testing.T) {
	f := startOriginFront(t)
	d := f.d
	const addr = "review-remove@example.com"
	var mu sync.Mutex
	var firstPolicy map[string]any // the receipt of version 1: one key
	f.lie(nil, func(r *http.Request, _ []byte, body map[string]any) {
		if r.Method == http.MethodGet && r.URL.Path == "/v1/wallet/policy" {
			mu.Lock()
			if firstPolicy == nil {
				firstPolicy = deepCopy(body)
			}
			mu.Unlock()
		}
	})
	first := newBrowser(t).tab()
	first.signInByEmail(d, addr, 1, "")
	addrs := first.addresses()

	second := newBrowser(t).tab()
	second.signInByEmail(d, addr, 2, "")
	second.addresses()
	second.run("ask to join", chromedp.Click(chromedp.CSS("#pair-start")), chromedp.WaitVisible(chromedp.CSS("#pair-code")))
	first.approveNewDevice(second.text("#pair-code"))
	second.run("joined", chromedp.WaitVisible(chromedp.CSS("#sign-form")))

	first.run("open security", chromedp.Click(chromedp.CSS("#security")), chromedp.WaitVisible(chromedp.CSS("#keys li button.remove")))
	mu.Lock()
	old := firstPolicy
	mu.Unlock()
	if old == nil {
		t.Fatal("the proxy recorded no receipt")
	}
	// The operator drops the removal and replays the old receipt.
	f.lie(func(w http.ResponseWriter, r *http.Request, _ []byte) bool {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/devices/revoke" {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"revoked":true}`))
			return true
		}
		return false
	}, func(r *http.Request, _ []byte, body map[string]any) {
		if r.Method == http.MethodGet && r.URL.Path == "/v1/wallet/policy" {
			replaceBody(body, deepCopy(old))
		}
	})
	first.run("remove the second browser's key", chromedp.Click(chromedp.CSS("#keys li button.remove")))
	said := get(first, "the outcome", chromedp.Poll[string](
		`(() => { const s = document.getElementById('status'); const f = document.getElementById('fatal');
		  if (f) return 'error: ' + f.textContent;
		  if (s.classList.contains('error')) return 'error: ' + s.textContent;
		  return /Removed/.test(s.textContent) ? s.textContent : null; })()`,
		chromedp.WithPollingTimeout(30*time.Second)))
	if strings.HasPrefix(said, "error: ") {
		return // refused: the page did not claim the key is gone
	}
	// The key is still in the wallet: the second browser signs with it.
	msg := "still here"
	if got := personalSigner(t, msg, second.signMessage(msg)); got == addrs["ethereum"] {
		t.Fatalf("the page says %q after a replayed older receipt, but the removed key still signs for %s", said, got)
	}
}
