package server

import (
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
