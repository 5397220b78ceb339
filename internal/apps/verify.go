package apps

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// A developer proves control of a domain one of two ways, each with a
// token the registry made for that app and domain:
//
//   - a DNS TXT record at _niomon-challenge.DOMAIN holding
//     "niomon-verify=TOKEN";
//   - a file at https://DOMAIN/.well-known/niomon-verification.txt
//     holding TOKEN.
const (
	TXTPrefix     = "_niomon-challenge."
	TXTValuePfx   = "niomon-verify="
	WellKnownPath = "/.well-known/niomon-verification.txt"
)

// Method is how a domain is proved.
type Method string

const (
	MethodDNS  Method = "dns"
	MethodFile Method = "file"
)

// Challenge is what a developer publishes for one domain.
type Challenge struct {
	Domain string
	Token  string
}

// NewChallenge makes a challenge with a fresh 256-bit token.
func NewChallenge(domain string) (Challenge, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return Challenge{}, err
	}
	return Challenge{Domain: domain, Token: base64.RawURLEncoding.EncodeToString(b)}, nil
}

// TXTName is the DNS name the TXT record goes at.
func (c Challenge) TXTName() string { return TXTPrefix + c.Domain }

// TXTValue is the TXT record's value.
func (c Challenge) TXTValue() string { return TXTValuePfx + c.Token }

// FileURL is where the file goes.
func (c Challenge) FileURL() string { return "https://" + c.Domain + WellKnownPath }

// Resolver looks up TXT records; *net.Resolver is one.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Verifier checks challenges. Its resolver and HTTP client are
// injectable; NewVerifier gives the ones a server uses.
type Verifier struct {
	Resolver Resolver
	HTTP     *http.Client
}

// Limits of a check.
const (
	// verifyTimeout bounds one check, DNS or HTTP.
	verifyTimeout = 10 * time.Second
	// maxFile is the most of the file read: a token is 43 bytes.
	maxFile = 1024
	// maxRecords is the most TXT records looked at.
	maxRecords = 64
)

// Errors a developer is shown.
var (
	ErrNotProved = errors.New("apps: the domain does not show this app's token")
	ErrFetch     = errors.New("apps: the verification file could not be fetched")
)

// NewVerifier is the verifier a server uses: the system resolver, and an
// HTTP client that reaches only public addresses (a developer's domain
// must not point the server at its own network), follows no redirect
// and reads only https.
func NewVerifier() *Verifier {
	dialer := &net.Dialer{Timeout: verifyTimeout, Control: publicOnly}
	return &Verifier{
		Resolver: net.DefaultResolver,
		HTTP: &http.Client{
			Timeout: verifyTimeout,
			Transport: &http.Transport{
				DialContext:            dialer.DialContext,
				Proxy:                  nil,
				TLSHandshakeTimeout:    verifyTimeout,
				ResponseHeaderTimeout:  verifyTimeout,
				MaxResponseHeaderBytes: 16 << 10,
				DisableKeepAlives:      true,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// ErrPrivateAddress is what a domain that resolves to a non-public
// address gets.
var ErrPrivateAddress = errors.New("apps: the domain resolves to an address that is not public")

// publicOnly refuses connections to loopback, private, link-local,
// multicast and unspecified addresses, checked on the address actually
// dialled (so DNS rebinding between lookup and connect cannot get past
// it).
func publicOnly(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return ErrPrivateAddress
	}
	a := ap.Addr().Unmap()
	if !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || isShared(a) {
		return ErrPrivateAddress
	}
	return nil
}

// isShared is 100.64.0.0/10 (carrier-grade NAT) and 198.18.0.0/15
// (benchmarking), not public either.
func isShared(a netip.Addr) bool {
	return netip.MustParsePrefix("100.64.0.0/10").Contains(a) || netip.MustParsePrefix("198.18.0.0/15").Contains(a)
}

// Verify checks that c's domain shows c's token by method m.
func (v *Verifier) Verify(ctx context.Context, c Challenge, m Method) error {
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	switch m {
	case MethodDNS:
		return v.verifyDNS(ctx, c)
	case MethodFile:
		return v.verifyFile(ctx, c)
	}
	return fmt.Errorf("apps: verification method %q is not dns or file", m)
}

func (v *Verifier) verifyDNS(ctx context.Context, c Challenge) error {
	records, err := v.Resolver.LookupTXT(ctx, c.TXTName())
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return fmt.Errorf("%w: no TXT record at %s", ErrNotProved, c.TXTName())
		}
		return fmt.Errorf("%w: looking up the TXT record at %s failed: %v", ErrNotProved, c.TXTName(), err)
	}
	want := c.TXTValue()
	for i, r := range records {
		if i == maxRecords {
			break
		}
		if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(r)), []byte(want)) == 1 {
			return nil
		}
	}
	return fmt.Errorf("%w: %d TXT records at %s, none is %q", ErrNotProved, len(records), c.TXTName(), want)
}

func (v *Verifier) verifyFile(ctx context.Context, c Challenge) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.FileURL(), nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrFetch, err)
	}
	req.Header.Set("User-Agent", "niomon-domain-verification")
	resp, err := v.HTTP.Do(req)
	if err != nil {
		if errors.Is(err, ErrPrivateAddress) {
			return fmt.Errorf("%w: %s: %w", ErrFetch, c.FileURL(), ErrPrivateAddress)
		}
		return fmt.Errorf("%w: %s: %v", ErrFetch, c.FileURL(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s answered %s (redirects are not followed)", ErrFetch, c.FileURL(), resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxFile+1))
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrFetch, c.FileURL(), err)
	}
	if len(body) > maxFile {
		return fmt.Errorf("%w: %s is longer than %d bytes; it holds the token only", ErrNotProved, c.FileURL(), maxFile)
	}
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(string(body))), []byte(c.Token)) != 1 {
		return fmt.Errorf("%w: %s does not hold this app's token", ErrNotProved, c.FileURL())
	}
	return nil
}
