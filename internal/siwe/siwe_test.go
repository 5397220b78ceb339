package siwe

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func example(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/eip4361-example.txt")
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "#") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func TestParse_ReadsTheEIPsExampleMessage(t *testing.T) {
	m, err := Parse(example(t))
	if err != nil {
		t.Fatal(err)
	}
	want := Message{Domain: "service.invalid", Address: "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
		Statement: "I accept the ServiceOrg Terms of Service: https://service.invalid/tos", URI: "https://service.invalid/login",
		Version: "1", ChainID: 1, Nonce: "32891756", IssuedAt: time.Date(2021, 9, 30, 16, 25, 24, 0, time.UTC)}
	if m.Domain != want.Domain || m.Address != want.Address || m.Statement != want.Statement || m.URI != want.URI ||
		m.Version != want.Version || m.ChainID != want.ChainID || m.Nonce != want.Nonce || !m.IssuedAt.Equal(want.IssuedAt) || len(m.Resources) != 2 {
		t.Fatalf("got %+v", m)
	}
}

func TestParse_RefusesMalformedMessagesAndPassesOrdinaryText(t *testing.T) {
	ex := func(t *testing.T) string { return example(t) }
	cases := []struct {
		name   string
		edit   func(string) string
		notSIW bool
	}{
		{"ordinary text", func(string) string { return "Hello from Ditto" }, true},
		{"no statement", func(s string) string {
			return strings.Replace(s, "I accept the ServiceOrg Terms of Service: https://service.invalid/tos\n\n", "\n", 1)
		}, false},
		{"a bad address", func(s string) string { return strings.Replace(s, "0xC02aaA39", "0xZZ2aaA39", 1) }, false},
		{"a two-line statement", func(s string) string { return strings.Replace(s, "/tos\n\n", "/tos\nmore\n\n", 1) }, false},
		{"no nonce", func(s string) string { return strings.Replace(s, "Nonce: 32891756\n", "", 1) }, false},
		{"a short nonce", func(s string) string { return strings.Replace(s, "Nonce: 32891756", "Nonce: 1234", 1) }, false},
		{"version 2", func(s string) string { return strings.Replace(s, "Version: 1", "Version: 2", 1) }, false},
		{"fields out of order", func(s string) string {
			return strings.Replace(s, "Version: 1\nChain ID: 1", "Chain ID: 1\nVersion: 1", 1)
		}, false},
		{"a line after the resources", func(s string) string { return s + "\nExtra: x" }, false},
		{"a domain with a path", func(s string) string {
			return strings.Replace(s, "service.invalid wants", "service.invalid/x wants", 1)
		}, false},
		{"a bad time", func(s string) string { return strings.Replace(s, "2021-09-30T16:25:24Z", "yesterday", 1) }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := tc.edit(ex(t))
			_, err := Parse(text)
			switch {
			case tc.notSIW && !errors.Is(err, ErrNotSIWE):
				t.Fatalf("got %v, want ErrNotSIWE", err)
			case !tc.notSIW && tc.name == "no statement" && err != nil:
				t.Fatalf("a message without a statement: %v", err)
			case !tc.notSIW && tc.name != "no statement" && (err == nil || errors.Is(err, ErrNotSIWE)):
				t.Fatalf("got %v, want a refusal saying why", err)
			}
		})
	}
}

func TestCheck_BindsTheMessageToTheRequestingSite(t *testing.T) {
	now := time.Date(2021, 10, 1, 0, 0, 0, 0, time.UTC)
	const addr = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
	cases := []struct {
		name    string
		origin  string
		address string
		edit    func(string) string
		ok      bool
	}{
		{"its own site", "https://service.invalid", addr, nil, true},
		{"another site asks", "https://evil.example", addr, nil, false},
		{"a subdomain asks", "https://app.service.invalid", addr, nil, false},
		{"another account", "https://service.invalid", "0x0000000000000000000000000000000000000001", nil, false},
		{"the URI on another host", "https://service.invalid", addr, func(s string) string {
			return strings.Replace(s, "URI: https://service.invalid/login", "URI: https://evil.example/login", 1)
		}, false},
		{"expired", "https://service.invalid", addr, func(s string) string {
			return strings.Replace(s, "Issued At: 2021-09-30T16:25:24Z", "Issued At: 2021-09-30T16:25:24Z\nExpiration Time: 2021-09-30T17:00:00Z", 1)
		}, false},
		{"not yet valid", "https://service.invalid", addr, func(s string) string {
			return strings.Replace(s, "Issued At: 2021-09-30T16:25:24Z", "Issued At: 2021-09-30T16:25:24Z\nNot Before: 2021-12-01T00:00:00Z", 1)
		}, false},
		{"a scheme other than the request's", "https://service.invalid", addr, func(s string) string { return "http://" + s }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := example(t)
			if tc.edit != nil {
				text = tc.edit(text)
			}
			m, err := Parse(text)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Check(tc.origin, tc.address, now); (err == nil) != tc.ok {
				t.Fatalf("Check: %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	b, _ := os.ReadFile("testdata/eip4361-example.txt")
	f.Add(string(b))
	f.Add("x wants you to sign in with your Ethereum account:\n")
	f.Add("Hello")
	f.Fuzz(func(t *testing.T, text string) {
		m, err := Parse(text)
		if err == nil && (!Looks(text) || m.Domain == "" || m.URI == "") {
			t.Fatalf("parsed %q without a preamble, domain or URI", text)
		}
		if err == nil {
			_ = m.Check("https://"+m.Domain, m.Address, m.IssuedAt)
		}
	})
}
