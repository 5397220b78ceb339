package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/niomon/niomon/internal/nioapi"
)

// originFront is a lying server at the wallet's own origin: the dev stack
// listens on 127.0.0.2:PORT and this proxy on 127.0.0.1:PORT (and
// [::1]:PORT), so http://localhost:PORT, the stack's public URL (the
// passkeys' origin and RP ID), reaches the proxy. It sees each request's
// body, can answer a request itself (handle), and can rewrite every JSON
// answer (rewrite): all a compromised server could do.
type originFront struct {
	t        *testing.T
	d        *devStack // d.url is the public URL, through the proxy
	upstream string    // the real server, http://127.0.0.2:PORT

	mu      sync.Mutex
	handle  func(w http.ResponseWriter, r *http.Request, body []byte) bool
	rewrite func(r *http.Request, reqBody []byte, body map[string]any)
	cookie  string // the last Cookie the browser sent
	csrf    string // the last X-CSRF-Token the browser sent or got
}

type originFrontBodyKey struct{}

func startOriginFront(t *testing.T) *originFront {
	t.Helper()
	_, port, _ := net.SplitHostPort(freePort(t))
	f := &originFront{t: t, upstream: "http://127.0.0.2:" + port}
	u, _ := url.Parse(f.upstream)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		if tok := resp.Header.Get("X-CSRF-Token"); tok != "" {
			f.mu.Lock()
			f.csrf = tok
			f.mu.Unlock()
		}
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || resp.StatusCode/100 != 2 {
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		var body map[string]any
		if json.Unmarshal(b, &body) == nil {
			if tok, ok := body["csrf_token"].(string); ok && tok != "" {
				f.mu.Lock()
				f.csrf = tok
				f.mu.Unlock()
			}
			f.mu.Lock()
			rw := f.rewrite
			f.mu.Unlock()
			if rw != nil {
				reqBody, _ := resp.Request.Context().Value(originFrontBodyKey{}).([]byte)
				rw(resp.Request, reqBody, body)
				b, _ = json.Marshal(body)
			}
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
		return nil
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		if c := r.Header.Get("Cookie"); c != "" {
			f.cookie = c
		}
		if c := r.Header.Get("X-CSRF-Token"); c != "" {
			f.csrf = c
		}
		handle := f.handle
		f.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		if handle != nil && handle(w, r, body) {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), originFrontBodyKey{}, body)))
	})
	for _, addr := range []string{"127.0.0.1:" + port, "[::1]:" + port} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			if strings.HasPrefix(addr, "[") {
				continue // no IPv6 loopback here
			}
			t.Fatal(err)
		}
		srv := &http.Server{Handler: h}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
	f.d = startDev(t, filepath.Join(t.TempDir(), "data"), "127.0.0.2:"+port, nil)
	if want := "http://localhost:" + port; f.d.url != want {
		t.Fatalf("the dev stack's public URL is %s, want %s", f.d.url, want)
	}
	return f
}

// lie sets what the proxy does from now on (nil: relay honestly).
func (f *originFront) lie(handle func(w http.ResponseWriter, r *http.Request, body []byte) bool, rewrite func(r *http.Request, reqBody []byte, body map[string]any)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handle, f.rewrite = handle, rewrite
}

// asUser calls the real server with the browser's own session (its cookie
// and CSRF token, as the server sees them): what the operator can do on
// its own authority.
func (f *originFront) asUser(method, path string, in, out any) error {
	f.mu.Lock()
	cookie, csrf := f.cookie, f.csrf
	f.mu.Unlock()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.upstream+path, body)
	req.Host = strings.TrimPrefix(f.d.url, "http://")
	req.Header.Set("Cookie", cookie)
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("Origin", f.d.url)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// upstreamConfig is the real server's /v1/config.
func (f *originFront) upstreamConfig() *nioapi.Config {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg, err := nioapi.NewClient(f.upstream, nil).Config(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return cfg
}

// replaceBody makes body a copy of with.
func replaceBody(body, with map[string]any) {
	clear(body)
	for k, v := range with {
		body[k] = v
	}
}

// deepCopy copies a JSON answer.
func deepCopy(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	json.Unmarshal(b, &out)
	return out
}

// homeOrFatal waits for the home screen's addresses or the error screen
// and says which came ("home" or "fatal") with the fatal text.
func (p *tab) homeOrFatal() (string, string) {
	p.t.Helper()
	got := get(p, "the home screen or the error screen", chromedp.Poll[string](
		`document.getElementById('fatal') ? 'fatal:' + document.getElementById('fatal').textContent : (document.querySelector('.account .address') ? 'home:' : null)`,
		chromedp.WithPollingTimeout(40*time.Second)))
	kind, text, _ := strings.Cut(got, ":")
	return kind, text
}

// operatorWallet signs up a user as an operator could for itself and
// returns its wallet as the server answers it, its id and its Ethereum
// address: genuine, enclave-signed, and not the victim's.
func operatorWallet(t *testing.T, d *devStack) (wallet map[string]any, oid, eth string) {
	t.Helper()
	_, answer := anotherUser(t, d, filepath.Join(t.TempDir(), "operator.json"))
	wallet = answer("/v1/wallet")
	for _, a := range wallet["addresses"].([]any) {
		if m := a.(map[string]any); m["chain"] == "ethereum" {
			eth = m["address"].(string)
		}
	}
	return wallet, wallet["oid"].(string), eth
}
