// Package phishing judges the sites that ask a user to sign or to log in:
// Check(origin) says allow, warn or block, why, which entry matched and
// which list it came from. It holds lists (MetaMask's eth-phishing-detect
// configuration, Polkadot's all.json, one domain a line), the registered
// apps' origins, and administrators' overrides, and it finds look-alikes
// of registered apps' domains. It does no I/O: callers give it the lists'
// bytes.
package phishing

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// Host is a normalised site.
type Host struct {
	// Name is the host as DNS sees it: lowercase ASCII, IDN labels in
	// punycode, no trailing dot.
	Name string
	// Unicode is Name with its punycode labels decoded (what a user
	// reads), or Name when it has none.
	Unicode string
	// Registrable is the registrable domain (eTLD+1, counting private
	// suffixes such as github.io as owners' suffixes), "" for an IP
	// address or a public suffix itself.
	Registrable string
	// Label is Registrable's first label: the name its owner chose.
	Label string
	// Path is the URL's path, "" for an origin.
	Path string
	// IP says Name is an IP address.
	IP bool

	domainDone bool // Registrable and Label are set
}

// ErrInvalid is wrapped by every normalisation error.
var ErrInvalid = errors.New("phishing: not a valid URL or host")

// lookup is UTS #46 processing as the WHATWG URL standard does it
// (domain to ASCII with UseSTD3ASCIIRules, CheckHyphens and
// VerifyDnsLength off, nontransitional).
var lookup = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.CheckJoiners(true),
	idna.CheckHyphens(false), idna.StrictDomainName(false), idna.Transitional(false), idna.VerifyDNSLength(false))

// display decodes punycode for people.
var display = idna.New(idna.BidiRule(), idna.CheckHyphens(false), idna.StrictDomainName(false), idna.VerifyDNSLength(false))

// maxInput bounds what Normalize reads: a URL longer than this is not an
// origin anyone signs for.
const maxInput = 4096

// Normalize parses an origin, a URL or a bare host the way a browser's
// URL parser (WHATWG) reads the host of an http, https, ws or wss URL:
// surrounding spaces and controls dropped, tabs and newlines removed,
// backslashes read as slashes, userinfo and port dropped, the host
// percent-decoded and mapped by UTS #46 to punycode.
func Normalize(raw string) (Host, error) { return normalize(raw, true) }

// normalize is Normalize, leaving the registrable domain to be found
// when it is needed unless withDomain.
func normalize(raw string, withDomain bool) (Host, error) {
	if len(raw) > maxInput {
		return Host{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, maxInput)
	}
	s := strings.TrimFunc(raw, func(r rune) bool { return r <= ' ' })
	if strings.ContainsAny(s, "\t\n\r") {
		s = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(s)
	}
	if s == "" {
		return Host{}, fmt.Errorf("%w: empty", ErrInvalid)
	}
	rest := s
	if i := strings.IndexByte(s, ':'); i > 0 && isScheme(s[:i]) {
		special := false
		switch strings.ToLower(s[:i]) {
		case "http", "https", "ws", "wss":
			special = true
		}
		switch {
		case special:
			rest = strings.TrimLeft(s[i+1:], `/\`)
		case i+1 < len(s) && (s[i+1] == '/' || s[i+1] == '\\') || !isPort(s[i+1:]):
			return Host{}, fmt.Errorf("%w: scheme %q is not a web origin", ErrInvalid, s[:i])
		}
		// else a host and its port: "localhost:3000"
	}
	end := strings.IndexAny(rest, `/\?#`)
	authority, path := rest, ""
	if end >= 0 {
		authority = rest[:end]
		if rest[end] == '/' || rest[end] == '\\' {
			path = strings.ReplaceAll(rest[end:], `\`, "/")
			if q := strings.IndexAny(path, "?#"); q >= 0 {
				path = path[:q]
			}
		}
	}
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		authority = authority[at+1:]
	}
	host := authority
	if strings.HasPrefix(host, "[") {
		close := strings.IndexByte(host, ']')
		if close < 0 {
			return Host{}, fmt.Errorf("%w: unclosed IPv6 address", ErrInvalid)
		}
		a, err := netip.ParseAddr(host[1:close])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return Host{}, fmt.Errorf("%w: bad IPv6 address", ErrInvalid)
		}
		return Host{Name: "[" + a.String() + "]", Unicode: "[" + a.String() + "]", Path: path, IP: true}, nil
	}
	if c := strings.LastIndexByte(host, ':'); c >= 0 {
		if !isPort(host[c+1:]) {
			return Host{}, fmt.Errorf("%w: bad port", ErrInvalid)
		}
		host = host[:c]
	}
	h, err := normalizeHost(host, withDomain)
	if err != nil {
		return Host{}, err
	}
	h.Path = path
	return h, nil
}

// normalizeHost maps a host (no scheme, port or path) to its Host.
func normalizeHost(host string, withDomain bool) (Host, error) {
	if strings.IndexByte(host, '%') >= 0 {
		d, err := percentDecode(host)
		if err != nil {
			return Host{}, err
		}
		host = d
	}
	name, fast := fastASCII(host)
	if !fast {
		if !utf8.ValidString(host) {
			return Host{}, fmt.Errorf("%w: the host is not UTF-8", ErrInvalid)
		}
		var err error
		if name, err = lookup.ToASCII(host); err != nil {
			return Host{}, fmt.Errorf("%w: %q is not a valid domain name", ErrInvalid, host)
		}
		// What UTS #46 makes of it must be a name it takes as it is
		// (U+FFFD, for one, maps to punycode it then refuses).
		if again, err := lookup.ToASCII(name); err != nil || again != name {
			return Host{}, fmt.Errorf("%w: %q is not a valid domain name", ErrInvalid, host)
		}
	}
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 || strings.Contains(name, "..") || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") {
		return Host{}, fmt.Errorf("%w: %q is not a valid domain name", ErrInvalid, host)
	}
	for i := 0; i < len(name) && !fast; i++ {
		if forbidden(name[i]) {
			return Host{}, fmt.Errorf("%w: %q has a character no host may have", ErrInvalid, host)
		}
	}
	if looksNumeric(name) {
		if a, err := netip.ParseAddr(name); err == nil && a.Is4() {
			return Host{Name: name, Unicode: name, IP: true}, nil
		}
		// WHATWG reads 0x7f.1 or 2130706433 as IPv4; such a host is no
		// domain anyone registers.
		return Host{}, fmt.Errorf("%w: %q is a numeric address in a form browsers rewrite", ErrInvalid, host)
	}
	h := Host{Name: name, Unicode: name}
	if strings.Contains(name, "xn--") {
		if u, err := display.ToUnicode(name); err == nil {
			h.Unicode = u
		}
	}
	if withDomain {
		h.findDomain()
	}
	return h, nil
}

// findDomain sets h's registrable domain and label, once.
func (h *Host) findDomain() {
	if h.domainDone || h.IP {
		return
	}
	h.domainDone = true
	if reg, err := publicsuffix.EffectiveTLDPlusOne(h.Name); err == nil {
		h.Registrable = reg
		h.Label = reg[:strings.IndexByte(reg, '.')]
	}
}

// fastASCII returns host lowercased when it is plain ASCII that UTS #46
// maps to itself (letters, digits, hyphens and dots, no punycode label),
// so the common case needs no IDNA processing.
func fastASCII(host string) (string, bool) {
	upper := false
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '.':
		case c == '-':
			// "xn--" at a label's start is punycode.
			if i == 3 && host[2] == '-' || i >= 4 && host[i-1] == '-' && host[i-4] == '.' {
				if host[i-3]|0x20 == 'x' && host[i-2]|0x20 == 'n' {
					return "", false
				}
			}
		case 'A' <= c && c <= 'Z':
			upper = true
		default:
			return "", false
		}
	}
	if upper {
		return strings.ToLower(host), true
	}
	return host, true
}

func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if !('a' <= c && c <= 'z' || i > 0 && (s[i] >= '0' && s[i] <= '9' || s[i] == '+' || s[i] == '-' || s[i] == '.')) {
			return false
		}
	}
	return len(s) > 0
}

// isPort says s (up to a path) is a port: digits only, possibly none.
func isPort(s string) bool {
	if end := strings.IndexAny(s, `/\?#`); end >= 0 {
		s = s[:end]
	}
	if len(s) > 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// forbidden is WHATWG's forbidden domain code points in ASCII.
func forbidden(c byte) bool {
	return c <= ' ' || c == 0x7f || strings.IndexByte("#%/:<>?@[\\]^|", c) >= 0
}

// looksNumeric says the last label is a number in a form WHATWG's IPv4
// parser takes (decimal, 0x hex, or octal).
func looksNumeric(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	if last == "" {
		return false
	}
	if strings.HasPrefix(last, "0x") || strings.HasPrefix(last, "0X") {
		last = last[2:]
		for i := 0; i < len(last); i++ {
			c := last[i] | 0x20
			if !('0' <= last[i] && last[i] <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(last); i++ {
		if last[i] < '0' || last[i] > '9' {
			return false
		}
	}
	return true
}

func percentDecode(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", fmt.Errorf("%w: bad percent-encoding in host", ErrInvalid)
		}
		b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
		i += 2
	}
	return b.String(), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'f'
}

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c | 0x20 - 'a' + 10
}
