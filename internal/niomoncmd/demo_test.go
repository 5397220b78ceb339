package niomoncmd

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestTheDemoDappPageNamesTheWalletAndServesOnlyItsFiles(t *testing.T) {
	srv := httptest.NewServer(demoHandler(`http://localhost:8080"><script>alert(1)</script>`))
	defer srv.Close()
	for _, tc := range []struct {
		name, method, path string
		status             int
		contentType, has   string
	}{
		{"the page, with the wallet URL escaped", "GET", "/", 200, "text/html; charset=utf-8", `content="http://localhost:8080&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`},
		{"the script", "GET", "/demo.js", 200, "text/javascript; charset=utf-8", "eip6963:announceProvider"},
		{"the stylesheet", "GET", "/demo.css", 200, "text/css; charset=utf-8", "--accent"},
		{"anything else", "GET", "/index.html", 404, "", ""},
		{"a POST", "POST", "/", 405, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status != 200 {
				return
			}
			if got := resp.Header.Get("Content-Type"); got != tc.contentType {
				t.Fatalf("Content-Type %q, want %q", got, tc.contentType)
			}
			if !strings.Contains(string(body), tc.has) {
				t.Fatalf("the answer lacks %q", tc.has)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Fatalf("CSP %q", csp)
			}
		})
	}
}
