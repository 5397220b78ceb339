package server

import (
	"bytes"
	"net/http"
	"sync"
	"time"

	"github.com/niomon/niomon/internal/apps"
	"github.com/niomon/niomon/internal/authdb"
)

// Apps' icons, as the wallet shows them on its approval screens: fetched
// by the server from the icon URL the developer gave (https, public
// addresses only, no redirect), checked to be a small PNG, JPEG or GIF
// (apps.CheckIcon), kept for a day (a failure for ten minutes), and
// served from the server's own origin with a sandboxing CSP.
const (
	iconTTL       = 24 * time.Hour
	iconFailedTTL = 10 * time.Minute
	maxIcons      = 1024
)

type cachedIcon struct {
	url  string
	icon *apps.Icon // nil: the last fetch failed
	at   time.Time
}

type iconCache struct {
	mu sync.Mutex
	m  map[string]cachedIcon
}

// appIcon is GET /v1/apps/{id}/icon: the icon of an app the user may see
// (a verified one, or their own).
func (s *Server) appIcon(w http.ResponseWriter, r *http.Request, a *auth) error {
	ctx := r.Context()
	if icon, ok := s.bicons[r.PathValue("id")]; ok {
		serveIcon(w, r, &icon)
		return nil
	}
	app, err := s.db.GetApp(ctx, r.PathValue("id"))
	if err != nil || (app.Status != authdb.AppVerified && app.OwnerID != a.user.ID) || app.IconURL == "" {
		return errNotFound
	}
	now := s.now()
	s.icons.mu.Lock()
	c, ok := s.icons.m[app.ID]
	s.icons.mu.Unlock()
	fresh := ok && c.url == app.IconURL && ((c.icon != nil && now.Sub(c.at) < iconTTL) || (c.icon == nil && now.Sub(c.at) < iconFailedTTL))
	if !fresh {
		c = cachedIcon{url: app.IconURL, at: now}
		if icon, err := s.verifier.FetchIcon(ctx, app.IconURL); err == nil {
			c.icon = &icon
		} else {
			s.log.Info("an app's icon cannot be used", "app", app.ID, "err", err)
		}
		s.icons.mu.Lock()
		if s.icons.m == nil || len(s.icons.m) >= maxIcons {
			s.icons.m = map[string]cachedIcon{} // bounded: start again
		}
		s.icons.m[app.ID] = c
		s.icons.mu.Unlock()
	}
	if c.icon == nil {
		return errNotFound
	}
	serveIcon(w, r, c.icon)
	return nil
}

func serveIcon(w http.ResponseWriter, r *http.Request, icon *apps.Icon) {
	h := w.Header()
	h.Set("Content-Type", icon.ContentType)
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "private, max-age=3600")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(icon.Body))
}
