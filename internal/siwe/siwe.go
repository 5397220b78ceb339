// Package siwe reads Sign-In with Ethereum messages (EIP-4361) and checks
// one against the site that asks the wallet to sign it, as the EIP asks
// wallets to: the message's domain must be the requesting origin's host,
// its URI on that origin, its address the signing account's, and its
// validity window open. It has no HTTP and does no cryptography (the
// signature is an ordinary personal_sign of the message).
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

// Message is a parsed EIP-4361 message.
type Message struct {
	Scheme         string // optional: "https" when the message names it
	Domain         string // host[:port], the site asking
	Address        string // 0x + 40 hex digits, as written (EIP-55)
	Statement      string
	URI            string
	Version        string
	ChainID        uint64
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

// MaxLen bounds a message.
const MaxLen = 16 << 10

const preamble = " wants you to sign in with your Ethereum account:"

var (
	addressRe = regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`)
	nonceRe   = regexp.MustCompile(`^[A-Za-z0-9]{8,}$`)
	domainRe  = regexp.MustCompile(`^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$`)
)

// Looks reports whether text starts like an EIP-4361 message (its first
// line ends with the preamble): such a text must then parse, or be
// refused, never signed as an ordinary message.
func Looks(text string) bool {
	first, _, _ := strings.Cut(text, "\n")
	return strings.HasSuffix(first, preamble)
}

// Parse reads text as an EIP-4361 message. ErrNotSIWE if it does not
// start like one; another error, saying what is wrong, if it starts like
// one but is malformed.
func Parse(text string) (*Message, error) {
	if !Looks(text) {
		return nil, ErrNotSIWE
	}
	if len(text) > MaxLen {
		return nil, fmt.Errorf("siwe: the message is over %d bytes", MaxLen)
	}
	fail := func(format string, a ...any) (*Message, error) {
		return nil, fmt.Errorf("siwe: "+format, a...)
	}
	lines := strings.Split(text, "\n")
	m := &Message{}
	head := strings.TrimSuffix(lines[0], preamble)
	if s, d, ok := strings.Cut(head, "://"); ok {
		m.Scheme, head = s, d
	}
	if !domainRe.MatchString(head) {
		return fail("the domain %q is not a host[:port]", head)
	}
	m.Domain = head
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
	fields := []struct {
		name     string
		required bool
		set      func(v string) error
	}{
		{"URI", true, func(v string) error { m.URI = v; return checkURI(v) }},
		{"Version", true, func(v string) error {
			if m.Version = v; v != "1" {
				return errors.New(`only version "1" exists`)
			}
			return nil
		}},
		{"Chain ID", true, func(v string) (err error) { m.ChainID, err = strconv.ParseUint(v, 10, 64); return err }},
		{"Nonce", true, func(v string) error {
			if m.Nonce = v; !nonceRe.MatchString(v) {
				return errors.New("want at least 8 letters or digits")
			}
			return nil
		}},
		{"Issued At", true, func(v string) (err error) { m.IssuedAt, err = time.Parse(time.RFC3339Nano, v); return err }},
		{"Expiration Time", false, func(v string) (err error) { m.ExpirationTime, err = time.Parse(time.RFC3339Nano, v); return err }},
		{"Not Before", false, func(v string) (err error) { m.NotBefore, err = time.Parse(time.RFC3339Nano, v); return err }},
		{"Request ID", false, func(v string) error { m.RequestID = v; return nil }},
	}
	for _, f := range fields {
		if i < len(lines) {
			if v, ok := strings.CutPrefix(lines[i], f.name+": "); ok {
				if err := f.set(v); err != nil {
					return fail("%s: %v", f.name, err)
				}
				i++
				continue
			}
		}
		if f.required {
			return fail("the %q field is missing or out of order", f.name)
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
	if u, err := url.Parse(m.URI); err != nil || !strings.EqualFold(u.Host, o.Host) {
		return fmt.Errorf("siwe: the message's URI %s is not on %s", m.URI, o.Host)
	}
	if !strings.EqualFold(m.Address, address) {
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
