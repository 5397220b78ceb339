package niomoncmd

import (
	"html"
	"net/http"
	"strings"
	"time"

	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/web"
)

// demoApp is the demo dApp's registration in niomon dev: a verified app at
// origin, known to the server without the database (server.Options
// BuiltinApps), so it works for every user of the dev stack and for no
// other deployment.
func demoApp(origin string) authdb.App {
	return authdb.App{
		ID: "niomon-dev-demo-dapp", Name: "Niomon demo dApp", Contact: "dev@niomon.localhost",
		Status: authdb.AppVerified, StatusReason: "niomon dev's own demo",
		Origins:   []authdb.AppOrigin{{Origin: origin, Method: "dev", VerifiedAt: time.Unix(0, 0)}},
		CreatedAt: time.Unix(0, 0), UpdatedAt: time.Unix(0, 0),
	}
}

// demoHandler serves the demo dApp (web.Demo) for the wallet at
// walletURL.
func demoHandler(walletURL string) http.Handler {
	files := web.Demo()
	page := strings.Replace(string(files["index.html"].Body), `content="WALLET_URL"`, `content="`+html.EscapeString(walletURL)+`"`, 1)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "GET only", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		switch r.URL.Path {
		case "/":
			h.Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(page))
		case "/demo.js", "/demo.css":
			a := files[strings.TrimPrefix(r.URL.Path, "/")]
			h.Set("Content-Type", a.ContentType)
			_, _ = w.Write(a.Body)
		default:
			http.NotFound(w, r)
		}
	})
}
