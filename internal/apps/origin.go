// Package apps holds what the app registry decides about an app's web
// presence: which origins and redirect URIs it may register, and the
// proof that its developer controls each origin's domain.
package apps

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/niomon/niomon/internal/phishing"
)

// Origin is an origin an app registers: https and a host, or https and
// "*." a domain for every subdomain of it, or http://localhost with a
// port for development.
type Origin struct {
	Scheme   string // "https", or "http" for localhost
	Host     string // lowercase ASCII (IDN labels in punycode); without "*."
	Port     int    // 0 for the scheme's default
	Wildcard bool   // every subdomain of Host, not Host itself
}

// ErrOrigin is wrapped by every origin and redirect URI error.
var ErrOrigin = errors.New("apps: not an origin an app can register")

// ParseOrigin reads an origin as a developer writes it and refuses what
// an app may not register, saying why.
func ParseOrigin(s string) (Origin, error) {
	fail := func(why string) (Origin, error) { return Origin{}, fmt.Errorf("%w: %q: %s", ErrOrigin, short(s), why) }
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return fail("write it as https://host")
	}
	if strings.ContainsAny(rest, "/?#@\\ \t\n") {
		return fail("an origin is a scheme and a host (and a port): no path, query, fragment or user")
	}
	var o Origin
	host, port := rest, ""
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.HasSuffix(rest, "]") {
		host, port = rest[:i], rest[i+1:]
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return fail("the port is not a number from 1 to 65535")
		}
		o.Port = n
	}
	if wild, ok := strings.CutPrefix(host, "*."); ok {
		o.Wildcard, host = true, wild
	}
	if strings.Contains(host, "*") {
		return fail(`a wildcard is "*." at the start of the host only`)
	}
	h, err := phishing.Normalize("https://" + host)
	if err != nil {
		return fail("the host is not a valid domain name")
	}
	o.Host = h.Name
	if !ldh(o.Host) {
		return fail("a host name is letters, digits and hyphens in dot-separated labels")
	}
	switch scheme {
	case "https":
		o.Scheme = "https"
		if o.Port == 443 {
			o.Port = 0
		}
	case "http":
		if o.Host != "localhost" || o.Wildcard || o.Port == 0 {
			return fail("http is for http://localhost:PORT in development; other origins use https")
		}
		o.Scheme = "http"
		return o, nil
	default:
		return fail("the scheme is https (or http for localhost)")
	}
	switch {
	case h.IP:
		return fail("an app registers a domain name, not an IP address")
	case o.Host == "localhost" || strings.HasSuffix(o.Host, ".localhost"):
		return fail("localhost is for http://localhost:PORT in development")
	case h.Registrable == "":
		return fail("the host is a public suffix (such as com or github.io), which no one app owns")
	}
	return o, nil
}

// ldh says every label of an ASCII host name is letters, digits and
// hyphens, neither starting nor ending with a hyphen: the names DNS and
// every browser agree on.
func ldh(host string) bool {
	for _, label := range strings.Split(host, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// String is the origin as registered ("https://*.example.com").
func (o Origin) String() string {
	var b strings.Builder
	b.WriteString(o.Scheme)
	b.WriteString("://")
	if o.Wildcard {
		b.WriteString("*.")
	}
	b.WriteString(o.Host)
	if o.Port != 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(o.Port))
	}
	return b.String()
}

// Development says the origin is a localhost one: usable by the app's
// own developer, never verified.
func (o Origin) Development() bool { return o.Scheme == "http" }

// Domain is the domain whose control the developer proves: the host, or
// for a wildcard the domain under it.
func (o Origin) Domain() string { return o.Host }

// Matches says a browser's origin (as sent in an Origin header or by
// postMessage) is one this registration covers: the same scheme and port,
// and the same host, or for a wildcard a subdomain of it.
func (o Origin) Matches(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != o.Scheme || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	port := 0
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return false
		}
		port = n
	}
	if o.Scheme == "https" && port == 443 {
		port = 0
	}
	if port != o.Port {
		return false
	}
	host := strings.ToLower(u.Hostname())
	if o.Wildcard {
		return strings.HasSuffix(host, "."+o.Host) && len(host) > len(o.Host)+1 && !strings.HasPrefix(host, ".")
	}
	return host == o.Host
}

// ParseRedirectURI reads a redirect URI an app registers: https to a
// host (with a path, no fragment), or http://localhost:PORT for
// development. Redirect URIs are compared exactly.
func ParseRedirectURI(s string) (string, error) {
	fail := func(why string) (string, error) {
		return "", fmt.Errorf("%w: redirect URI %q: %s", ErrOrigin, short(s), why)
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fail("not an absolute URL")
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return fail("a redirect URI has no fragment")
	}
	if u.User != nil {
		return fail("a redirect URI has no user")
	}
	o, err := ParseOrigin(u.Scheme + "://" + u.Host)
	if err != nil {
		return fail(strings.TrimPrefix(err.Error(), ErrOrigin.Error()+": "))
	}
	if o.Wildcard {
		return fail("a redirect URI names one host")
	}
	return s, nil
}

// short is what an error repeats of an input: at most 100 bytes of it.
func short(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}
