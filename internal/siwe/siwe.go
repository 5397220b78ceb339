// Package siwe reads Sign-In with Ethereum messages (EIP-4361) and their
// Solana form (Sign In With Solana, the wallet-standard's solana:signIn
// message text), and checks one against the site that asks the wallet to
// sign it, as EIP-4361 asks wallets to: the message's domain must be the
// requesting origin's host, its URI on that origin, its address the
// signing account's, and its validity window open. It has no HTTP and
// does no cryptography (the signature is an ordinary signature of the
// message's bytes).
package siwe

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Account is the kind of account a message signs in with.
type Account int

const (
	Ethereum Account = iota // EIP-4361
	Solana                  // Sign In With Solana
)

// Message is a parsed EIP-4361 or Sign In With Solana message.
type Message struct {
	Account        Account
	Scheme         string // optional: "https" when the message names it
	Domain         string // host[:port], the site asking
	Address        string // Ethereum: 0x + 40 hex digits, as written (EIP-55); Solana: base58
	Statement      string
	URI            string // required for Ethereum, optional for Solana
	Version        string
	ChainID        uint64 // Ethereum
	Chain          string // Solana: as written, e.g. "mainnet" or "solana:mainnet"; optional
	Nonce          string
	IssuedAt       time.Time
	ExpirationTime time.Time // zero: none
	NotBefore      time.Time // zero: none
	RequestID      string
	Resources      []string
}

// ErrNotSIWE means the text is not an EIP-4361 message at all (its first
// line is not the preamble): an ordinary message.
var ErrNotSIWE = errors.New("siwe: not a Sign-In with Ethereum message")

// ErrNotSIWS means the text is not a Sign In With Solana message.
var ErrNotSIWS = errors.New("siwe: not a Sign In With Solana message")

// MaxLen bounds a message.
const MaxLen = 16 << 10

const (
	preamble       = " wants you to sign in with your Ethereum account:"
	solanaPreamble = " wants you to sign in with your Solana account:"
)

var (
	addressRe       = regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`)
	solanaAddressRe = regexp.MustCompile(`^[1-9A-HJ-NP-Za-km-z]{32,44}$`)
	solanaChainRe   = regexp.MustCompile(`^[A-Za-z0-9:_\-]{1,64}$`)
	nonceRe         = regexp.MustCompile(`^[A-Za-z0-9]{8,}$`)
	domainRe        = regexp.MustCompile(`^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$`)
)

// Looks reports whether text starts like an EIP-4361 message (its first
// line ends with the preamble): such a text must then parse, or be
// refused, never signed as an ordinary message.
func Looks(text string) bool {
	first, _, _ := strings.Cut(text, "\n")
	return strings.HasSuffix(first, preamble)
}

// LooksSolana reports whether text starts like a Sign In With Solana
// message: such a text must then parse, or be refused.
func LooksSolana(text string) bool {
	first, _, _ := strings.Cut(text, "\n")
	return strings.HasSuffix(first, solanaPreamble)
}

// Parse reads text as an EIP-4361 message. ErrNotSIWE if it does not
// start like one; another error, saying what is wrong, if it starts like
// one but is malformed.
func Parse(text string) (*Message, error) {
	if !Looks(text) {
		return nil, ErrNotSIWE
	}
	m, lines, err := head(text, preamble)
	if err != nil {
		return nil, err
	}
	if len(lines) < 4 {
		return fail("the message ends after its first line")
	}
	if m.Address = lines[1]; !addressRe.MatchString(m.Address) {
		return fail("line 2 is not an Ethereum address")
	}
	if lines[2] != "" {
		return fail("line 3 must be empty")
	}
	i := 3
	if lines[i] != "" { // a statement, then an empty line
		m.Statement = lines[i]
		i++
		if i >= len(lines) || lines[i] != "" {
			return fail("the statement must be one line, followed by an empty line")
		}
	}
	i++
	return m.fields(lines, i)
}

// ParseSolana reads text as a Sign In With Solana message: the
// wallet-standard's form, in which everything after the address is
// optional. ErrNotSIWS if it does not start like one; another error,
// saying what is wrong, if it starts like one but is malformed.
func ParseSolana(text string) (*Message, error) {
	if !LooksSolana(text) {
		return nil, ErrNotSIWS
	}
	m, lines, err := head(text, solanaPreamble)
	if err != nil {
		return nil, err
	}
	m.Account = Solana
	if len(lines) < 2 {
		return fail("the message ends after its first line")
	}
	if m.Address = lines[1]; !solanaAddressRe.MatchString(m.Address) {
		return fail("line 2 is not a Solana address")
	}
	if len(lines) == 2 {
		return m, nil
	}
	if len(lines) < 4 || lines[2] != "" {
		return fail("line 3 must be empty, and something must follow it")
	}
	i := 3
	if !isField(lines[i]) { // a statement, then an empty line and the fields, or the end
		m.Statement = lines[i]
		if i++; i == len(lines) {
			return m, nil
		}
		if lines[i] != "" || i+1 == len(lines) {
			return fail("the statement must be one line, followed by an empty line and fields")
		}
		i++
	}
	return m.fields(lines, i)
}

func fail(format string, a ...any) (*Message, error) {
	return nil, fmt.Errorf("siwe: "+format, a...)
}

// head reads the first line: [scheme://]domain and the preamble.
func head(text, preamble string) (*Message, []string, error) {
	if len(text) > MaxLen {
		return nil, nil, fmt.Errorf("siwe: the message is over %d bytes", MaxLen)
	}
	lines := strings.Split(text, "\n")
	m := &Message{}
	h := strings.TrimSuffix(lines[0], preamble)
	if s, d, ok := strings.Cut(h, "://"); ok {
		m.Scheme, h = s, d
	}
	if !domainRe.MatchString(h) {
		return nil, nil, fmt.Errorf("siwe: the domain %q is not a host[:port]", h)
	}
	m.Domain = h
	return m, lines, nil
}

var fieldNames = []string{"URI", "Version", "Chain ID", "Nonce", "Issued At", "Expiration Time", "Not Before", "Request ID"}

func isField(line string) bool {
	for _, f := range fieldNames {
		if strings.HasPrefix(line, f+": ") {
			return true
		}
	}
	return line == "Resources:"
}

// fields reads the fields from lines[i] to the end. An Ethereum message
// needs the first five; in a Solana one each is optional.
func (m *Message) fields(lines []string, i int) (*Message, error) {
	eth := m.Account == Ethereum
	set := map[string]func(v string) error{
		"URI": func(v string) error { m.URI = v; return checkURI(v) },
		"Version": func(v string) error {
			if m.Version = v; v != "1" {
				return errors.New(`only version "1" exists`)
			}
			return nil
		},
		"Chain ID": func(v string) (err error) {
			if eth {
				m.ChainID, err = strconv.ParseUint(v, 10, 64)
				return err
			}
			if m.Chain = v; !solanaChainRe.MatchString(v) {
				return errors.New("want a chain such as mainnet or solana:mainnet")
			}
			return nil
		},
		"Nonce": func(v string) error {
			if m.Nonce = v; !nonceRe.MatchString(v) {
				return errors.New("want at least 8 letters or digits")
			}
			return nil
		},
		"Issued At":       func(v string) (err error) { m.IssuedAt, err = time.Parse(time.RFC3339Nano, v); return err },
		"Expiration Time": func(v string) (err error) { m.ExpirationTime, err = time.Parse(time.RFC3339Nano, v); return err },
		"Not Before":      func(v string) (err error) { m.NotBefore, err = time.Parse(time.RFC3339Nano, v); return err },
		"Request ID":      func(v string) error { m.RequestID = v; return nil },
	}
	for k, name := range fieldNames {
		if i < len(lines) {
			if v, ok := strings.CutPrefix(lines[i], name+": "); ok {
				if err := set[name](v); err != nil {
					return fail("%s: %v", name, err)
				}
				i++
				continue
			}
		}
		if eth && k < 5 {
			return fail("the %q field is missing or out of order", name)
		}
	}
	if i < len(lines) && lines[i] == "Resources:" {
		for i++; i < len(lines) && strings.HasPrefix(lines[i], "- "); i++ {
			r := strings.TrimPrefix(lines[i], "- ")
			if err := checkURI(r); err != nil {
				return fail("resource %q: %v", r, err)
			}
			m.Resources = append(m.Resources, r)
		}
	}
	if i != len(lines) {
		return fail("line %d is not a field of the message", i+1)
	}
	return m, nil
}

func checkURI(v string) error {
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" {
		return errors.New("not an absolute URI")
	}
	return nil
}

// Check reports why m must not be signed for a request from origin (a
// web origin, scheme://host[:port]) with account address at now; nil if
// it may.
func (m *Message) Check(origin, address string, now time.Time) error {
	o, err := url.Parse(origin)
	if err != nil || o.Host == "" {
		return fmt.Errorf("siwe: the requesting origin %q is not an origin", origin)
	}
	if !strings.EqualFold(m.Domain, o.Host) {
		return fmt.Errorf("siwe: the message signs in to %s, but %s asks for it", m.Domain, o.Host)
	}
	if m.Scheme != "" && !strings.EqualFold(m.Scheme, o.Scheme) {
		return fmt.Errorf("siwe: the message names the scheme %s, but the request comes over %s", m.Scheme, o.Scheme)
	}
	if m.URI != "" || m.Account == Ethereum {
		if u, err := url.Parse(m.URI); err != nil || !strings.EqualFold(u.Host, o.Host) {
			return fmt.Errorf("siwe: the message's URI %s is not on %s", m.URI, o.Host)
		}
	}
	same := strings.EqualFold(m.Address, address)
	if m.Account == Solana {
		same = m.Address == address // base58 is case-sensitive
	}
	if !same {
		return fmt.Errorf("siwe: the message is for the account %s, not this wallet's %s", m.Address, address)
	}
	if !m.ExpirationTime.IsZero() && !now.Before(m.ExpirationTime) {
		return fmt.Errorf("siwe: the message expired at %s", m.ExpirationTime.Format(time.RFC3339))
	}
	if !m.NotBefore.IsZero() && now.Before(m.NotBefore) {
		return fmt.Errorf("siwe: the message is not valid before %s", m.NotBefore.Format(time.RFC3339))
	}
	return nil
}
