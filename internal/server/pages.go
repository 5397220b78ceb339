package server

import (
	"html/template"
	"net/http"

	"github.com/niomon/niomon/internal/nioapi"
)

var homePage = template.Must(template.New("home").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>Niomon</title></head>
<body style="font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;line-height:1.5">
<h1>Niomon</h1>
{{if .User}}
<p>Signed in as <code>{{.User.ID}}</code>{{with .User.Email}} ({{.}}){{end}}.</p>
{{if .Wallet.Ready}}<h2>Your addresses</h2>
<table>{{range .Wallet.Addresses}}<tr><td>{{.Chain}}</td><td><code>{{.Address}}</code></td><td><small>{{.Path}}</small></td></tr>{{end}}</table>
{{else}}<p>Your wallet is not made yet: it is created with a key only your device holds. The web wallet comes next; until then use <code>niomon client</code>.</p>{{end}}
{{else}}
<p>Sign in with an email code from the command line:</p>
<pre>go run ./cmd/niomon client --server {{.PublicURL}} email login you@example.com</pre>
<p>It asks for the code from the mail, creates your wallet with a device key kept in a local file, and shows your addresses.</p>
{{end}}
{{if .Dev}}<p>Development mailbox: <a href="/dev/mailbox/">/dev/mailbox/</a></p>{{end}}
<p><small>API: <code>{{.PublicURL}}/v1/</code> — see docs/openapi.json.</small></p>
</body></html>`))

type homeData struct {
	PublicURL string
	Dev       bool
	User      *nioapi.User
	Wallet    *nioapi.Wallet
}

// home is the landing page: who is signed in (by cookie), and how to
// start.
func (s *Server) home(w http.ResponseWriter, r *http.Request, _ *auth) error {
	d := homeData{PublicURL: s.cfg.PublicURL, Dev: s.devMail != nil}
	if _, err := r.Cookie(sessionCookie); err == nil {
		if a, err := s.authenticate(w, r); err == nil {
			u := s.userView(r.Context(), a.user)
			d.User = &u
			if d.Wallet, err = s.walletView(r.Context(), a.user); err != nil {
				return err
			}
		}
	}
	return renderPage(w, http.StatusOK, homePage, d)
}
