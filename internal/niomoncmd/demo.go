package niomoncmd

import (
	"bytes"
	"html"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strings"
	"time"

	"github.com/niomon/niomon/internal/apps"
	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/web"
)

const demoAppID = "niomon-dev-demo-dapp"

// demoIcon is the demo dApp's icon: a 64x64 PNG in its colours, a
// diagonal band on orange.
func demoIcon() apps.Icon {
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for y := range 64 {
		for x := range 64 {
			c := color.RGBA{R: 0xb4, G: 0x53, B: 0x1a, A: 0xff}
			if d := x - y; d > -12 && d < 12 {
				c = color.RGBA{R: 0xfb, G: 0xf7, B: 0xf0, A: 0xff}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img) // into memory: cannot fail
	return apps.Icon{Body: b.Bytes(), ContentType: "image/png"}
}

// demoApp is the demo dApp's registration in niomon dev: a verified app at
// origin, known to the server without the database (server.Options
// BuiltinApps), so it works for every user of the dev stack and for no
// other deployment.
func demoApp(origin string) authdb.App {
	return authdb.App{
		ID: demoAppID, Name: "Niomon demo dApp", Contact: "dev@niomon.localhost", IconURL: "builtin:demo",
		Status: authdb.AppVerified, StatusReason: "niomon dev's own demo",
		Origins: []authdb.AppOrigin{{Origin: origin, Method: "dev", VerifiedAt: time.Unix(0, 0)}},
		// The page the SDK comes back to where popups are blocked.
		RedirectURIs: []string{origin + "/"},
		CreatedAt:    time.Unix(0, 0), UpdatedAt: time.Unix(0, 0),
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
