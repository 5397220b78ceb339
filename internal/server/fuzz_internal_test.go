package server

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"alice@example.com", " Bob@Example.COM ", "a@b", "Alice <a@example.com>", "a@@b.c", "\x00@x.y", "a@localhost"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := normalizeEmail(s)
		if err != nil {
			return
		}
		if got != strings.ToLower(got) || strings.TrimSpace(got) != got || !utf8.ValidString(got) || len(got) > 254 {
			t.Fatalf("normalizeEmail(%q) = %q: not a normalised address", s, got)
		}
		if strings.ContainsAny(got, "\r\n<>, ") {
			t.Fatalf("normalizeEmail(%q) = %q: holds a character that has no place in a bare address", s, got)
		}
		again, err := normalizeEmail(got)
		if err != nil || again != got {
			t.Fatalf("normalizeEmail is not idempotent on %q: %q, %v", got, again, err)
		}
	})
}

// FuzzParseCode: whatever a client sends as a code, parseCode accepts
// only six digits as they are or ten symbols of the long-code alphabet.
func FuzzParseCode(f *testing.F) {
	for _, s := range []string{"012345", "ABCDE-FGHJK", "abcde fghjk", " 012345", "ABCDE-FGHJI", "", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		code, long, ok := parseCode(s)
		switch {
		case !ok:
			if code != "" || long {
				t.Fatalf("parseCode(%q) refused with %q, %v", s, code, long)
			}
		case !long:
			if code != s || len(code) != codeDigits || strings.Trim(code, "0123456789") != "" {
				t.Fatalf("parseCode(%q) = %q as six digits", s, code)
			}
		default:
			if len(code) != longCodeLen || strings.Trim(code, longCodeAlphabet) != "" {
				t.Fatalf("parseCode(%q) = %q as a long code", s, code)
			}
		}
	})
}

func FuzzOpenFlow(f *testing.F) {
	k, _, err := NewTokenKey()
	if err != nil {
		f.Fatal(err)
	}
	s := &Server{tokens: k, sealKeys: newFlowKeys(k), now: time.Now}
	good, err := s.sealFlow(flowAPIKey, apiKeyFlow{Nonce: []byte("n")}, time.Minute)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add("")
	f.Add(strings.Repeat("A", 100))
	f.Fuzz(func(t *testing.T, token string) {
		var v apiKeyFlow
		_, err := s.openFlow(flowAPIKey, token, &v)
		if err == nil && token != good {
			t.Fatalf("a flow the server did not seal opened: %q", token)
		}
		if _, err := s.openFlow(flowOIDC, token, &oidcFlow{}); err == nil {
			t.Fatalf("a flow opened as another kind: %q", token)
		}
	})
}

func FuzzClientIP(f *testing.F) {
	proxies, err := parseProxies([]string{"127.0.0.0/8", "10.0.0.0/8", "2001:db8::/32"})
	if err != nil {
		f.Fatal(err)
	}
	s := &Server{proxies: proxies}
	for _, xff := range []string{"203.0.113.7", "198.51.100.1, 203.0.113.7, 10.1.2.3", "[2001:db8::1]:443", "fe80::1%eth0", ",,,", "not-an-ip, 10.0.0.1"} {
		f.Add("127.0.0.1:5555", xff)
	}
	f.Add("192.0.2.1:80", "10.0.0.1")
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		got := s.clientIP(r)
		peer, ok := parseHop(remote)
		if !ok {
			if got != remote {
				t.Fatalf("clientIP with an unparsable peer %q: got %q, want the peer as it is", remote, got)
			}
			return
		}
		a, err := netip.ParseAddr(got)
		if err != nil {
			t.Fatalf("clientIP(%q, %q) = %q: not an address", remote, xff, got)
		}
		if !s.trustedProxy(peer) && a != peer {
			t.Fatalf("clientIP(%q, %q) = %q: believed a header from an untrusted peer", remote, xff, got)
		}
		if a == peer {
			return
		}
		for _, hop := range strings.Split(xff, ",") {
			if h, ok := parseHop(strings.TrimSpace(hop)); ok && h == a {
				return
			}
		}
		t.Fatalf("clientIP(%q, %q) = %q: neither the peer nor an entry of the header", remote, xff, got)
	})
}

// A code is read back as a person types it: six digits as they are, a
// long code in either case, with or without its dash and spaces; nothing
// else, and never a six-digit code mistaken for a long one.
func TestParseCode_ReadsCodesAsTyped(t *testing.T) {
	for _, tc := range []struct {
		in         string
		code       string
		long, isOK bool
	}{
		{"012345", "012345", false, true},
		{"ABCDE-FGHJK", "ABCDEFGHJK", true, true},
		{"abcde-fghjk", "ABCDEFGHJK", true, true},
		{"ABCDE FGHJK", "ABCDEFGHJK", true, true},
		{"ABCDEFGHJK", "ABCDEFGHJK", true, true},
		{"0123456789", "0123456789", true, true},
		{"ABCDE-FGHJI", "", false, false}, // I is not in the alphabet
		{"ABCDE-FGHJ", "", false, false},
		{" 012345", "", false, false},
		{"01234", "", false, false},
		{"", "", false, false},
		{strings.Repeat("-", 40), "", false, false},
		{strings.Repeat("ſ", 10), "", false, false}, // U+017F upper-cases to S
	} {
		code, long, ok := parseCode(tc.in)
		if code != tc.code || long != tc.long || ok != tc.isOK {
			t.Errorf("parseCode(%q) = %q, %v, %v; want %q, %v, %v", tc.in, code, long, ok, tc.code, tc.long, tc.isOK)
		}
	}
	for range 100 {
		c := newLongCode()
		if got, long, ok := parseCode(showCode(c)); got != c || !long || !ok {
			t.Fatalf("a long code as mailed, %q, reads back as %q, %v, %v", showCode(c), got, long, ok)
		}
	}
}
