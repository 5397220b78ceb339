package apps

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/niomon/niomon/internal/apps/appstest"
)

func pngOf(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	img.Set(0, 0, color.RGBA{R: 35, G: 70, B: 200, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestFetchIconTakesSmallRasterImagesOnly(t *testing.T) {
	small, huge := pngOf(t, 64, 64), pngOf(t, 2000, 10)
	client := appstest.HTTPSServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/icon.png":
			w.Write(small)
		case "/lying.png":
			w.Header().Set("Content-Type", "image/png")
			w.Write([]byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`))
		case "/wide.png":
			w.Write(huge)
		case "/big.png":
			w.Write(append(append([]byte{}, small...), make([]byte, MaxIconBytes)...))
		case "/truncated.png":
			w.Write(small[:40])
		case "/moved.png":
			http.Redirect(w, r, "/icon.png", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	v := &Verifier{HTTP: client}
	for _, tc := range []struct {
		name, url string
		ok        bool
	}{
		{"a 64x64 PNG", "https://app.example.com/icon.png", true},
		{"SVG served as image/png", "https://app.example.com/lying.png", false},
		{"2000 pixels wide", "https://app.example.com/wide.png", false},
		{"over 64 KiB", "https://app.example.com/big.png", false},
		{"a truncated PNG", "https://app.example.com/truncated.png", false},
		{"a redirect", "https://app.example.com/moved.png", false},
		{"not found", "https://app.example.com/none.png", false},
		{"http", "http://app.example.com/icon.png", false},
		{"userinfo", "https://user@app.example.com/icon.png", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			icon, err := v.FetchIcon(context.Background(), tc.url)
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrIcon)) {
				t.Fatalf("FetchIcon: %v, want ok %v", err, tc.ok)
			}
			if tc.ok && (icon.ContentType != "image/png" || !bytes.Equal(icon.Body, small)) {
				t.Fatalf("got %s of %d bytes", icon.ContentType, len(icon.Body))
			}
		})
	}
	// The server's own client does not fetch from its own network.
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	if _, err := NewVerifier().FetchIcon(context.Background(), "https://"+srv.Listener.Addr().String()+"/icon.png"); !errors.Is(err, ErrPrivateAddress) {
		t.Fatalf("a loopback icon URL: %v, want ErrPrivateAddress", err)
	}
}

func FuzzCheckIcon(f *testing.F) {
	f.Add(pngOf(f, 8, 8))
	f.Add([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"))
	f.Add([]byte("\xff\xd8\xff\xe0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		icon, err := CheckIcon(b)
		if err == nil && (len(icon.Body) > MaxIconBytes || icon.ContentType == "") {
			t.Fatalf("accepted %d bytes as %q", len(icon.Body), icon.ContentType)
		}
	})
}
