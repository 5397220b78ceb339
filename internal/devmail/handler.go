package devmail

import (
	"encoding/json"
	"html"
	"html/template"
	"net"
	"net/http"
	"regexp"
	"strings"
)

// Handler serves the mailbox to a browser on this machine:
//
//	GET /                  the messages, newest first (HTML)
//	GET /{id}              one message (HTML)
//	GET /api/messages      the messages, newest first (JSON array of Received)
//	GET /api/messages/{id} one message (JSON)
//
// Links are relative, so the handler can be mounted under a prefix with
// http.StripPrefix. Everything from a message is escaped by html/template;
// the HTML part is shown only inside a sandboxed iframe (srcdoc, no scripts,
// no same-origin) under a Content-Security-Policy that forbids scripts.
// Requests whose Host is not localhost or a loopback IP are refused, so a web
// page cannot read the codes through DNS rebinding.
func (m *Mailbox) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", m.serveList)
	mux.HandleFunc("GET /api/messages", m.serveJSONList)
	mux.HandleFunc("GET /api/messages/{id}", m.serveJSONOne)
	mux.HandleFunc("GET /{id}", m.serveOne)
	return localOnly(mux)
}

const csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func localOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if !isLocalHost(r.Host) {
			http.Error(w, "devmail: this mailbox answers only requests for localhost or a loopback address", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isLocalHost reports whether an HTTP Host header names this machine:
// localhost, *.localhost or a loopback IP, with or without a port.
func isLocalHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

func (m *Mailbox) serveList(w http.ResponseWriter, r *http.Request) {
	render(w, listPage, struct {
		Addr     string
		Messages []Received
	}{m.Addr(), m.Messages()})
}

func (m *Mailbox) serveOne(w http.ResponseWriter, r *http.Request) {
	msg, ok := m.message(r.PathValue("id"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	render(w, messagePage, struct {
		Received
		Links []string
	}{msg, links(msg.Text + "\n" + html.UnescapeString(msg.HTML))})
}

func (m *Mailbox) serveJSONList(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, m.Messages())
}

func (m *Mailbox) serveJSONOne(w http.ResponseWriter, r *http.Request) {
	msg, ok := m.message(r.PathValue("id"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, msg)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v) // escapes <, > and & too
}

func render(w http.ResponseWriter, t *template.Template, data any) {
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		http.Error(w, "devmail: cannot render page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}

// linkRE finds http(s) URLs in a message, so a magic link can be opened from
// the mailbox page without letting the mail's own HTML act.
var linkRE = regexp.MustCompile(`https?://[^\s<>"'` + "`" + `]+`)

const maxLinks = 20

func links(s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range linkRE.FindAllString(s, -1) {
		l = strings.TrimRight(l, ".,;:!?)]}")
		if seen[l] {
			continue
		}
		seen[l] = true
		out = append(out, l)
		if len(out) == maxLinks {
			break
		}
	}
	return out
}

var funcs = template.FuncMap{"join": strings.Join}

const style = `body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#111}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3em .6em;border-bottom:1px solid #ddd;vertical-align:top}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f6f6;padding:1em}
iframe{width:100%;height:28em;border:1px solid #ccc}.muted{color:#666}`

var listPage = template.Must(template.New("list").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>Dev mailbox</title><style>` + style + `</style></head><body>
<h1>Dev mailbox</h1>
<p class="muted">SMTP on {{.Addr}} · {{len .Messages}} message(s), newest first · refreshes every 5 s.
Codes and links in these mails sign in to this development stack: treat them as secrets.
For scripts: <a href="api/messages">api/messages</a> is this list as JSON.</p>
<table><thead><tr><th>Date</th><th>From</th><th>To</th><th>Subject</th></tr></thead><tbody>
{{range .Messages}}<tr><td>{{.Date.Format "2006-01-02 15:04:05"}}</td><td>{{.From}}</td><td>{{join .To ", "}}</td><td><a href="{{.ID}}">{{or .Subject "(no subject)"}}</a></td></tr>
{{else}}<tr><td colspan="4" class="muted">No mail yet.</td></tr>
{{end}}</tbody></table>
</body></html>
`))

var messagePage = template.Must(template.New("message").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{or .Subject "(no subject)"}} · Dev mailbox</title><style>` + style + `</style></head><body>
<p><a href="./">← all mail</a> · <a href="api/messages/{{.ID}}">as JSON</a></p>
<h1>{{or .Subject "(no subject)"}}</h1>
<table>
<tr><th>From</th><td>{{.From}}</td></tr>
<tr><th>To</th><td>{{join .To ", "}}</td></tr>
<tr><th>Date</th><td>{{.Date.Format "2006-01-02 15:04:05 -0700"}}</td></tr>
<tr><th>Size</th><td>{{.Size}} bytes</td></tr>
</table>
{{if .Links}}<h2>Links</h2><ul>{{range .Links}}<li><a href="{{.}}" rel="noreferrer noopener" target="_blank">{{.}}</a></li>{{end}}</ul>{{end}}
{{if .Text}}<h2>Text</h2><pre>{{.Text}}</pre>{{end}}
{{if .HTML}}<h2>HTML</h2>
<iframe sandbox="" referrerpolicy="no-referrer" title="HTML part" srcdoc="{{.HTML}}"></iframe>
<details><summary>HTML source</summary><pre>{{.HTML}}</pre></details>{{end}}
{{if not (or .Text .HTML)}}<p class="muted">No text or HTML part.</p>{{end}}
</body></html>
`))
