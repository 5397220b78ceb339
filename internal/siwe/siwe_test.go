package siwe

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func example(t *testing.T) string { return testdata(t, "eip4361-example.txt") }

func solanaExample(t *testing.T) string { return testdata(t, "siws-example.txt") }

func testdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
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

// checkCase is a request for a message (example, edited): ok if Check
// lets the wallet sign it.
type checkCase struct {
	name    string
	origin  string
	address string
	edit    func(string) string
	ok      bool
}

func runCheckCases(t *testing.T, example string, parse func(string) (*Message, error), now time.Time, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := example
			if tc.edit != nil {
				text = tc.edit(text)
			}
			m, err := parse(text)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Check(tc.origin, tc.address, now); (err == nil) != tc.ok {
				t.Fatalf("Check: %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestCheck_BindsTheMessageToTheRequestingSite(t *testing.T) {
	now := time.Date(2021, 10, 1, 0, 0, 0, 0, time.UTC)
	const addr = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
	cases := []checkCase{
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
	runCheckCases(t, example(t), Parse, now, cases)
}

func TestParseSolana_ReadsTheWalletStandardsFormWithEveryOptionalPart(t *testing.T) {
	const addr = "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T"
	full := solanaExample(t)
	cases := []struct {
		name      string
		text      string
		statement string
		uri       string
		chain     string
	}{
		{"the example", full, "I accept the ServiceOrg Terms of Service: https://service.invalid/tos", "https://service.invalid/login", "mainnet"},
		{"domain and address only", "service.invalid wants you to sign in with your Solana account:\n" + addr, "", "", ""},
		{"a statement only", "service.invalid wants you to sign in with your Solana account:\n" + addr + "\n\nHello", "Hello", "", ""},
		{"fields only", "service.invalid wants you to sign in with your Solana account:\n" + addr + "\n\nURI: https://service.invalid\nChain ID: solana:devnet", "", "https://service.invalid", "solana:devnet"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseSolana(tc.text)
			if err != nil {
				t.Fatal(err)
			}
			if m.Account != Solana || m.Domain != "service.invalid" || m.Address != addr || m.Statement != tc.statement || m.URI != tc.uri || m.Chain != tc.chain {
				t.Fatalf("got %+v", m)
			}
		})
	}
}

func TestParseSolana_RefusesMalformedMessagesAndPassesOrdinaryText(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(string) string
		notSIW bool
	}{
		{"ordinary text", func(string) string { return "Hello from Ditto" }, true},
		{"an Ethereum message", func(s string) string { return strings.Replace(s, "Solana account", "Ethereum account", 1) }, true},
		{"an Ethereum address", func(s string) string {
			return strings.Replace(s, "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T", "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", 1)
		}, false},
		{"a two-line statement", func(s string) string { return strings.Replace(s, "/tos\n\n", "/tos\nmore\n\n", 1) }, false},
		{"a statement with nothing after its empty line", func(s string) string { return s[:strings.Index(s, "/tos")+5] }, false},
		{"no empty line after the address", func(s string) string { return strings.Replace(s, "gDB4T\n\n", "gDB4T\n", 1) }, false},
		{"version 2", func(s string) string { return strings.Replace(s, "Version: 1", "Version: 2", 1) }, false},
		{"fields out of order", func(s string) string {
			return strings.Replace(s, "Version: 1\nChain ID: mainnet", "Chain ID: mainnet\nVersion: 1", 1)
		}, false},
		{"a chain with a space", func(s string) string { return strings.Replace(s, "Chain ID: mainnet", "Chain ID: main net", 1) }, false},
		{"a line after the resources", func(s string) string { return s + "\nExtra: x" }, false},
		{"a domain with a path", func(s string) string {
			return strings.Replace(s, "service.invalid wants", "service.invalid/x wants", 1)
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSolana(tc.edit(solanaExample(t)))
			if tc.notSIW && !errors.Is(err, ErrNotSIWS) {
				t.Fatalf("got %v, want ErrNotSIWS", err)
			}
			if !tc.notSIW && (err == nil || errors.Is(err, ErrNotSIWS)) {
				t.Fatalf("got %v, want a refusal saying why", err)
			}
		})
	}
}

func TestCheck_BindsASolanaMessageToTheRequestingSiteAndTheExactAddress(t *testing.T) {
	now := time.Date(2021, 10, 1, 0, 0, 0, 0, time.UTC)
	const addr = "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T"
	cases := []checkCase{
		{"its own site", "https://service.invalid", addr, nil, true},
		{"its own site, with no URI in the message", "https://service.invalid", addr, func(s string) string {
			return strings.Replace(s, "URI: https://service.invalid/login\n", "", 1)
		}, true},
		{"another site asks", "https://evil.example", addr, nil, false},
		{"another account", "https://service.invalid", "11111111111111111111111111111111", nil, false},
		{"the same letters in another case (another base58 key)", "https://service.invalid", strings.ToLower(addr), nil, false},
		{"the URI on another host", "https://service.invalid", addr, func(s string) string {
			return strings.Replace(s, "URI: https://service.invalid/login", "URI: https://evil.example/login", 1)
		}, false},
		{"expired", "https://service.invalid", addr, func(s string) string {
			return strings.Replace(s, "Issued At: 2021-09-30T16:25:24Z", "Issued At: 2021-09-30T16:25:24Z\nExpiration Time: 2021-09-30T17:00:00Z", 1)
		}, false},
	}
	runCheckCases(t, solanaExample(t), ParseSolana, now, cases)
}

func FuzzParseSolana(f *testing.F) {
	b, _ := os.ReadFile("testdata/siws-example.txt")
	f.Add(string(b))
	f.Add("x wants you to sign in with your Solana account:\n11111111111111111111111111111111")
	f.Add("Hello")
	f.Fuzz(func(t *testing.T, text string) {
		m, err := ParseSolana(text)
		if err == nil && (!LooksSolana(text) || m.Domain == "" || m.Address == "" || m.Account != Solana) {
			t.Fatalf("parsed %q without a preamble, domain or address", text)
		}
		if err == nil {
			_ = m.Check("https://"+m.Domain, m.Address, m.IssuedAt)
		}
	})
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
