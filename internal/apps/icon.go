package apps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/gif"  // icons may be GIF
	_ "image/jpeg" // or JPEG
	_ "image/png"  // or PNG
	"io"
	"net/http"
	"net/url"
)

// Icon is an app's icon as the server serves it to the wallet: a raster
// image it fetched from the app's icon URL and checked. The wallet shows
// it from the server's own origin, so its page loads nothing from an
// app's host and the host never sees who looks.
type Icon struct {
	Body        []byte
	ContentType string // image/png, image/jpeg or image/gif
}

// Limits of an icon.
const (
	MaxIconBytes = 64 << 10
	MaxIconSide  = 1024
)

// ErrIcon is what an icon that cannot be used gets.
var ErrIcon = errors.New("apps: the icon cannot be used")

// FetchIcon gets the icon at rawURL (https only) with v's HTTP client
// (public addresses only, no redirect, on a server) and checks it.
func (v *Verifier) FetchIcon(ctx context.Context, rawURL string) (Icon, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return Icon{}, fmt.Errorf("%w: the icon URL is not an https:// URL", ErrIcon)
	}
	if v.HTTP == nil {
		return Icon{}, fmt.Errorf("%w: the server fetches no icons", ErrIcon)
	}
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Icon{}, fmt.Errorf("%w: %v", ErrIcon, err)
	}
	req.Header.Set("User-Agent", "niomon-app-icon")
	resp, err := v.HTTP.Do(req)
	if err != nil {
		return Icon{}, fmt.Errorf("%w: fetching it failed: %w", ErrIcon, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Icon{}, fmt.Errorf("%w: its URL answered %s (redirects are not followed)", ErrIcon, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxIconBytes+1))
	if err != nil {
		return Icon{}, fmt.Errorf("%w: reading it failed: %v", ErrIcon, err)
	}
	return CheckIcon(body)
}

// CheckIcon accepts a PNG, JPEG or GIF of at most MaxIconBytes and
// MaxIconSide pixels a side, told by its content (never by a server's
// Content-Type). SVG is refused: it can carry script.
func CheckIcon(body []byte) (Icon, error) {
	if len(body) > MaxIconBytes {
		return Icon{}, fmt.Errorf("%w: it is over %d bytes", ErrIcon, MaxIconBytes)
	}
	ct := http.DetectContentType(body)
	if ct != "image/png" && ct != "image/jpeg" && ct != "image/gif" {
		return Icon{}, fmt.Errorf("%w: it is %s, not a PNG, JPEG or GIF", ErrIcon, ct)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(body))
	if err != nil || "image/"+format != ct {
		return Icon{}, fmt.Errorf("%w: it is not a readable %s", ErrIcon, ct)
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > MaxIconSide || cfg.Height > MaxIconSide {
		return Icon{}, fmt.Errorf("%w: it is %dx%d pixels; at most %d a side", ErrIcon, cfg.Width, cfg.Height, MaxIconSide)
	}
	// The whole image must decode (the size is bounded above, so this is
	// at most 4 MiB of pixels): the browser gets nothing half-formed.
	if _, _, err := image.Decode(bytes.NewReader(body)); err != nil {
		return Icon{}, fmt.Errorf("%w: it is not a whole %s", ErrIcon, ct)
	}
	return Icon{Body: body, ContentType: ct}, nil
}
