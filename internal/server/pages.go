package server

import (
	"bytes"
	"net/http"
	"time"

	"github.com/niomon/niomon/web"
)

// walletCSP is the wallet page's Content-Security-Policy: scripts and
// styles only from this origin, no inline script or style, no frames, no
// plugins, and fetches only to this server.
const walletCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// home serves Ditto, the web wallet: one page whose script does the rest
// through the API. The page is the same for everyone; it holds no data.
func (s *Server) home(w http.ResponseWriter, r *http.Request, _ *auth) error {
	serveAsset(w, r, web.Page())
	return nil
}

// asset serves the wallet's script and stylesheet.
func (s *Server) asset(w http.ResponseWriter, r *http.Request, _ *auth) error {
	a, ok := s.assets[r.PathValue("name")]
	if !ok {
		return errNotFound
	}
	serveAsset(w, r, a)
	return nil
}

// pageHeaders are the headers of every HTML page and its assets: the
// strict CSP, and a referrer policy that still lets the browser send an
// Origin on a form's POST (under no-referrer it sends "null", which the
// same-origin check refuses) while no path, a magic link's token among
// them, leaves in a Referer.
func pageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", walletCSP)
	h.Set("Referrer-Policy", "strict-origin")
}

func serveAsset(w http.ResponseWriter, r *http.Request, a web.Asset) {
	h := w.Header()
	pageHeaders(h)
	h.Set("Content-Type", a.ContentType)
	// The bundle changes with the binary; revalidating costs a 304.
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.Body))
}
