package apps

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/niomon/niomon/internal/apps/appstest"
)

func TestParseOrigin(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" for a refusal
		dev      bool
	}{
		{in: "https://app.example.com", want: "https://app.example.com"},
		{in: "https://App.Example.COM:443", want: "https://app.example.com"},
		{in: "https://app.example.com:8443", want: "https://app.example.com:8443"},
		{in: "https://*.example.com", want: "https://*.example.com"},
		{in: "https://bücher.example", want: "https://xn--bcher-kva.example"},
		{in: "http://localhost:3000", want: "http://localhost:3000", dev: true},
		{in: "http://localhost"},                 // development needs a port
		{in: "http://app.example.com"},           // http only for localhost
		{in: "https://localhost:3000"},           // localhost is for development
		{in: "https://app.example.com/path"},     // a path
		{in: "https://app.example.com/"},         // even an empty one
		{in: "https://user@app.example.com"},     // a user
		{in: "https://app.*.example.com"},        // a wildcard inside
		{in: "https://*.com"},                    // a public suffix
		{in: "https://*.github.io"},              // a private suffix
		{in: "https://github.io"},                // one
		{in: "https://127.0.0.1"},                // an IP address
		{in: "https://[::1]:443"},                // an IPv6 address
		{in: "https://app.example.com:0"},        // port 0
		{in: "https://app.example.com:65536"},    // a port too large
		{in: "https://app.example.com:08443"},    // a port written oddly
		{in: "wss://app.example.com"},            // another scheme
		{in: "app.example.com"},                  // no scheme
		{in: "javascript://app.example.com"},     // no
		{in: "https://app..example.com"},         // an empty label
		{in: "https://app.example.com?x=1"},      // a query
		{in: "https://`.example.com"},            // a character DNS names do not have
		{in: "https://-app.example.com"},         // a label starting with a hyphen
		{in: "https://a_b.example.com"},          // an underscore
		{in: `https://app.example.com\evil.com`}, // a backslash
	} {
		t.Run(tc.in, func(t *testing.T) {
			o, err := ParseOrigin(tc.in)
			if tc.want == "" {
				if err == nil || !errors.Is(err, ErrOrigin) {
					t.Fatalf("ParseOrigin(%q) = %v, %v; want a refusal", tc.in, o, err)
				}
				return
			}
			if err != nil || o.String() != tc.want || o.Development() != tc.dev {
				t.Fatalf("ParseOrigin(%q) = %v, %v; want %s", tc.in, o, err, tc.want)
			}
		})
	}
}

func TestOriginMatches(t *testing.T) {
	for _, tc := range []struct {
		registered, origin string
		want               bool
	}{
		{"https://app.example.com", "https://app.example.com", true},
		{"https://app.example.com", "https://app.example.com:443", true},
		{"https://app.example.com", "https://APP.example.com", true},
		{"https://app.example.com", "http://app.example.com", false},
		{"https://app.example.com", "https://app.example.com:8443", false},
		{"https://app.example.com", "https://evil.app.example.com", false},
		{"https://app.example.com", "https://app.example.com.evil.io", false},
		{"https://app.example.com", "https://user@app.example.com", false},
		{"https://*.example.com", "https://a.example.com", true},
		{"https://*.example.com", "https://a.b.example.com", true},
		{"https://*.example.com", "https://example.com", false},
		{"https://*.example.com", "https://evilexample.com", false},
		{"https://*.example.com", "https://.example.com", false},
		{"http://localhost:3000", "http://localhost:3000", true},
		{"http://localhost:3000", "http://localhost:3001", false},
		{"http://localhost:3000", "https://localhost:3000", false},
	} {
		o, err := ParseOrigin(tc.registered)
		if err != nil {
			t.Fatal(err)
		}
		if got := o.Matches(tc.origin); got != tc.want {
			t.Errorf("%s matches %s: %v, want %v", tc.registered, tc.origin, got, tc.want)
		}
	}
}

func TestParseRedirectURI(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"https://app.example.com/callback", true},
		{"https://app.example.com/callback?x=1", true},
		{"http://localhost:3000/cb", true},
		{"https://app.example.com/cb#frag", false},
		{"http://app.example.com/cb", false},
		{"https://*.example.com/cb", false},
		{"https://user@app.example.com/cb", false},
		{"/relative", false},
		{"myapp:callback", false},
	} {
		if _, err := ParseRedirectURI(tc.in); (err == nil) != tc.ok {
			t.Errorf("ParseRedirectURI(%q): %v, want ok %v", tc.in, err, tc.ok)
		}
	}
}

func TestVerifyByDNS(t *testing.T) {
	ch, err := NewChallenge("example.com")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewChallenge("example.com")
	resolver := appstest.DNSServer(t, map[string][]string{
		"_niomon-challenge.example.com": {"v=spf1 -all", ch.TXTValue()},
		"_niomon-challenge.wrong.com":   {other.TXTValue()},
		"example.org":                   {TXTValuePfx + ch.Token}, // at the apex, not the challenge name
	}).Resolver()
	v := &Verifier{Resolver: resolver}
	runVerifyCases(t, v, ch, MethodDNS, []verifyCase{
		{"the record among others proves it", "example.com", nil},
		{"another app's token does not", "wrong.com", ErrNotProved},
		{"a record at the wrong name does not", "example.org", ErrNotProved},
		{"no record does not", "nothing.example", ErrNotProved},
	}, func(t *testing.T, c Challenge, err error) {
		// The developer is told what to publish where.
		if err != nil && !strings.Contains(err.Error(), c.TXTName()) {
			t.Fatalf("the error does not name %s: %v", c.TXTName(), err)
		}
	})
}

// verifyCase is a domain a challenge is checked at and the error wanted.
type verifyCase struct {
	name, domain string
	want         error
}

// runVerifyCases checks ch at each case's domain by method m, and runs
// also (if not nil) on each outcome.
func runVerifyCases(t *testing.T, v *Verifier, ch Challenge, m Method, cases []verifyCase, also func(*testing.T, Challenge, error)) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ch
			c.Domain = tc.domain
			err := v.Verify(context.Background(), c, m)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
			if also != nil {
				also(t, c, err)
			}
		})
	}
}

func TestVerifyByFile(t *testing.T) {
	ch, err := NewChallenge("app.example.com")
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int32
	// Every domain resolves to the test server, which the client trusts.
	client := appstest.HTTPSServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.Host + r.URL.Path {
		case "app.example.com" + WellKnownPath:
			w.Write([]byte(ch.Token + "\n"))
		case "wrong.example.com" + WellKnownPath:
			w.Write([]byte("someone else's token"))
		case "redirect.example.com" + WellKnownPath:
			http.Redirect(w, r, "https://app.example.com"+WellKnownPath, http.StatusFound)
		case "big.example.com" + WellKnownPath:
			w.Write([]byte(ch.Token + strings.Repeat(" ", maxFile)))
		default:
			http.NotFound(w, r)
		}
	}))
	v := &Verifier{HTTP: client}
	runVerifyCases(t, v, ch, MethodFile, []verifyCase{
		{"the file with the token proves it", "app.example.com", nil},
		{"another token does not", "wrong.example.com", ErrNotProved},
		{"a redirect to a file with the token is not followed", "redirect.example.com", ErrFetch},
		{"a file longer than a token does not", "big.example.com", ErrNotProved},
		{"no file does not", "missing.example.com", ErrFetch},
	}, nil)
	if hits.Load() != 5 {
		t.Fatalf("the server saw %d requests, want 5 (one each, no redirect followed)", hits.Load())
	}
}

// The server's own verifier never fetches from its own network: a domain
// that resolves to loopback (here, written as an address) is refused at
// the dial, before any request.
func TestServerVerifierRefusesPrivateAddresses(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	err := NewVerifier().Verify(context.Background(), Challenge{Domain: srv.Listener.Addr().String(), Token: "t"}, MethodFile)
	if !errors.Is(err, ErrPrivateAddress) || hits.Load() != 0 {
		t.Fatalf("Verify: %v (server saw %d requests)", err, hits.Load())
	}
	for _, tc := range []struct {
		addr   string
		public bool
	}{
		{"127.0.0.1:443", false},
		{"10.1.2.3:443", false},
		{"192.168.1.1:443", false},
		{"169.254.169.254:80", false},
		{"100.64.0.1:443", false},
		{"0.0.0.0:443", false},
		{"[::1]:443", false},
		{"[fd00::1]:443", false},
		{"[fe80::1]:443", false},
		{"[::ffff:127.0.0.1]:443", false},
		{"8.8.8.8:443", true},
		{"[2606:4700:4700::1111]:443", true},
	} {
		if err := publicOnly("tcp", tc.addr, nil); (err == nil) != tc.public {
			t.Errorf("publicOnly(%s): %v, want public %v", tc.addr, err, tc.public)
		}
	}
}

func FuzzParseOrigin(f *testing.F) {
	for _, s := range []string{"https://app.example.com", "https://*.example.com:8443", "http://localhost:3000", "https://bücher.example", "https://a.b.c.d.e", "https://[::1]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseOrigin(s)
		if err != nil {
			return
		}
		again, err := ParseOrigin(o.String())
		if err != nil || again != o {
			t.Fatalf("ParseOrigin(%q) = %v, then %v, %v", s, o, again, err)
		}
		if !o.Wildcard && !o.Matches(o.String()) {
			t.Fatalf("%v does not match itself", o)
		}
	})
}
