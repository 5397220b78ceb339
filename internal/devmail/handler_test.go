package devmail

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const hostileMessage = `From: "<script>alert('from')</script>" <evil@example.com>
To: victim@example.com
Subject: <script>alert('subject')</script>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary=b

--b
Content-Type: text/plain

</pre><script>alert('text')</script> see https://auth.niomon.test/magic?t=1&u=2.
--b
Content-Type: text/html

<script>alert('html')</script><img src=x onerror="alert('img')"><a href="javascript:alert('href')">x</a>
--b--
`

func get(t *testing.T, h http.Handler, method, host, path string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	req.Host = host
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHandler_EscapesEverythingFromTheMessage(t *testing.T) {
	m := startMailbox(t)
	if err := sendRaw(m.Addr(), "evil@example.com", []string{"victim@example.com"}, hostileMessage); err != nil {
		t.Fatal(err)
	}
	id := m.Messages()[0].ID
	h := m.Handler()

	tests := []struct {
		name       string
		path       string
		mustHave   []string
		mustNotHav []string
	}{
		{
			name:       "list page",
			path:       "/",
			mustHave:   []string{"&lt;script&gt;alert(&#39;subject&#39;)&lt;/script&gt;", `href="` + id + `"`},
			mustNotHav: []string{"<script"},
		},
		{
			name: "message page",
			path: "/" + id,
			mustHave: []string{
				"&lt;script&gt;alert(&#39;subject&#39;)&lt;/script&gt;",
				"&lt;/pre&gt;&lt;script&gt;alert(&#39;text&#39;)",
				`<iframe sandbox=""`,
				`srcdoc="&lt;script&gt;alert(&#39;html&#39;)&lt;/script&gt;&lt;img src=x onerror=&#34;alert(&#39;img&#39;)&#34;&gt;`,
				// The link from the text part is offered, escaped.
				`<a href="https://auth.niomon.test/magic?t=1&amp;u=2"`,
			},
			mustNotHav: []string{"<script", "<img", `href="javascript:`, "onerror=\""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, h, http.MethodGet, "127.0.0.1:8025", tt.path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d; want 200", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type = %q", ct)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
				t.Errorf("Content-Security-Policy = %q; want scripts forbidden", csp)
			}
			page := body(t, resp)
			for _, s := range tt.mustHave {
				if !strings.Contains(page, s) {
					t.Errorf("page lacks %q", s)
				}
			}
			for _, s := range tt.mustNotHav {
				if strings.Contains(page, s) {
					t.Errorf("page contains unescaped %q", s)
				}
			}
			if t.Failed() {
				t.Logf("page:\n%s", page)
			}
		})
	}
}

func TestHandler_JSONListsMessagesNewestFirst(t *testing.T) {
	m := startMailbox(t)
	for _, raw := range []string{simpleMessage("a@example.com", "older", "one"), hostileMessage} {
		if err := sendRaw(m.Addr(), "dev@niomon.test", []string{"a@example.com"}, raw); err != nil {
			t.Fatal(err)
		}
	}
	h := m.Handler()

	resp := get(t, h, http.MethodGet, "localhost:8025", "/api/messages")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	raw := body(t, resp)
	if strings.Contains(raw, "<script") {
		t.Errorf("JSON carries a raw <script; want it escaped as \\u003c")
	}
	var list []Received
	if err := json.Unmarshal([]byte(raw), &list); err != nil {
		t.Fatalf("decode: %v\n%s", err, raw)
	}
	if len(list) != 2 || list[0].Subject != "<script>alert('subject')</script>" || list[1].Subject != "older" {
		t.Fatalf("list = %+v; want the hostile message then the older one", list)
	}
	if list[1].Text != "one\n" || list[1].To[0] != "a@example.com" {
		t.Errorf("older message = %+v", list[1])
	}

	one := get(t, h, http.MethodGet, "localhost", "/api/messages/"+list[1].ID)
	var r Received
	if err := json.NewDecoder(one.Body).Decode(&r); err != nil || r.ID != list[1].ID || r.Subject != "older" {
		t.Fatalf("one message = %+v, %v", r, err)
	}
}

// The pages link their JSON views, so that a script's author finds them.
func TestHandler_PagesLinkTheirJSON(t *testing.T) {
	m := startMailbox(t)
	if err := sendRaw(m.Addr(), "dev@niomon.test", []string{"a@example.com"}, simpleMessage("a@example.com", "hello", "one")); err != nil {
		t.Fatal(err)
	}
	h := m.Handler()
	var list []Received
	if err := json.Unmarshal([]byte(body(t, get(t, h, http.MethodGet, "localhost", "/api/messages"))), &list); err != nil || len(list) != 1 {
		t.Fatalf("list: %+v %v", list, err)
	}
	for _, tc := range []struct{ page, link string }{
		{"/", `href="api/messages"`},
		{"/" + list[0].ID, `href="api/messages/` + list[0].ID + `"`},
	} {
		if page := body(t, get(t, h, http.MethodGet, "localhost", tc.page)); !strings.Contains(page, tc.link) {
			t.Errorf("page %s has no %s", tc.page, tc.link)
		}
	}
}

func TestHandler_EmptyMailboxJSONIsAnEmptyArray(t *testing.T) {
	m := startMailbox(t)
	if got := strings.TrimSpace(body(t, get(t, m.Handler(), http.MethodGet, "127.0.0.1", "/api/messages"))); got != "[]" {
		t.Fatalf("body = %q; want []", got)
	}
}

func TestHandler_RefusesWhatItShouldNotServe(t *testing.T) {
	m := startMailbox(t)
	if err := sendRaw(m.Addr(), "dev@niomon.test", []string{"a@example.com"}, simpleMessage("a@example.com", "s", "b")); err != nil {
		t.Fatal(err)
	}
	id := m.Messages()[0].ID
	tests := []struct {
		name   string
		method string
		host   string
		path   string
		want   int
	}{
		{"a foreign Host (DNS rebinding) gets no list", http.MethodGet, "evil.example:8025", "/api/messages", http.StatusForbidden},
		{"a foreign Host gets no message", http.MethodGet, "evil.example", "/" + id, http.StatusForbidden},
		{"a LAN IP Host is refused", http.MethodGet, "192.168.1.10:8025", "/", http.StatusForbidden},
		{"unknown message", http.MethodGet, "127.0.0.1", "/999999", http.StatusNotFound},
		{"unknown message in JSON", http.MethodGet, "127.0.0.1", "/api/messages/999999", http.StatusNotFound},
		{"POST is not allowed", http.MethodPost, "127.0.0.1", "/api/messages", http.StatusMethodNotAllowed},
		{"localhost subdomain is local", http.MethodGet, "mail.localhost:8025", "/" + id, http.StatusOK},
		{"IPv6 loopback is local", http.MethodGet, "[::1]:8025", "/", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, m.Handler(), tt.method, tt.host, tt.path)
			if resp.StatusCode != tt.want {
				t.Fatalf("%s %s (Host %s) = %d; want %d", tt.method, tt.path, tt.host, resp.StatusCode, tt.want)
			}
		})
	}
}

func TestHandler_ServesOverRealHTTP(t *testing.T) {
	m := startMailbox(t)
	if err := sendRaw(m.Addr(), "dev@niomon.test", []string{"a@example.com"}, simpleMessage("a@example.com", "over http", "b")); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if page := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, "over http") {
		t.Fatalf("status %d, page %q", resp.StatusCode, page)
	}
}
