package phishing

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// List is one source of entries, named so that every verdict can say
// where it came from.
type List struct {
	Name string
	// Deny: a host and every subdomain of it.
	Deny []string
	// DenyPath: a host and a path prefix ("x.com/SomeAccount").
	DenyPath []string
	// Allow: a host exactly, or "*.host" for its subdomains. An allow
	// entry never outweighs a more specific deny entry.
	Allow []string
	// Protect: domains whose look-alikes this list wants caught
	// (MetaMask's fuzzylist), within Tolerance edits.
	Protect   []string
	Tolerance int
}

// maxListBytes bounds a list read: Polkadot's whole list is 1.4 MB.
const maxListBytes = 64 << 20

// ParseMetaMask reads MetaMask's eth-phishing-detect configuration
// (blocklist or blacklist, allowlist or whitelist, fuzzylist, tolerance).
func ParseMetaMask(name string, r io.Reader) (*List, error) {
	var c struct {
		Version   int      `json:"version"`
		Tolerance *int     `json:"tolerance"`
		Fuzzylist []string `json:"fuzzylist"`
		Allowlist []string `json:"allowlist"`
		Whitelist []string `json:"whitelist"`
		Blocklist []string `json:"blocklist"`
		Blacklist []string `json:"blacklist"`
	}
	if err := decodeJSON(r, &c); err != nil {
		return nil, fmt.Errorf("phishing: list %s: not an eth-phishing-detect configuration: %w", name, err)
	}
	if c.Blocklist == nil && c.Blacklist == nil && c.Fuzzylist == nil {
		return nil, fmt.Errorf("phishing: list %s: an eth-phishing-detect configuration has blocklist and fuzzylist", name)
	}
	l := &List{Name: name, Deny: append(c.Blocklist, c.Blacklist...), Allow: append(c.Allowlist, c.Whitelist...), Protect: c.Fuzzylist, Tolerance: 1}
	if c.Tolerance != nil {
		if *c.Tolerance < 0 || *c.Tolerance > 3 {
			return nil, fmt.Errorf("phishing: list %s: tolerance %d is outside 0..3", name, *c.Tolerance)
		}
		l.Tolerance = *c.Tolerance
	}
	return l, nil
}

// ParsePolkadot reads polkadot-js/phishing's all.json (allow, deny,
// denySub).
func ParsePolkadot(name string, r io.Reader) (*List, error) {
	var c struct {
		Allow   []string `json:"allow"`
		Deny    []string `json:"deny"`
		DenySub []string `json:"denySub"`
	}
	if err := decodeJSON(r, &c); err != nil {
		return nil, fmt.Errorf("phishing: list %s: not a polkadot all.json: %w", name, err)
	}
	if c.Deny == nil {
		return nil, fmt.Errorf("phishing: list %s: a polkadot all.json has a deny array", name)
	}
	return &List{Name: name, Deny: c.Deny, DenyPath: c.DenySub, Allow: c.Allow}, nil
}

// ParsePlain reads one domain a line (blank lines and lines starting with
// # are skipped) as deny entries.
func ParsePlain(name string, r io.Reader) (*List, error) {
	l := &List{Name: name}
	sc := bufio.NewScanner(io.LimitReader(r, maxListBytes))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		l.Deny = append(l.Deny, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("phishing: list %s: %w", name, err)
	}
	return l, nil
}

// ParseAny picks the format from the content: a JSON object with "deny"
// is Polkadot's, one with blocklist, blacklist or fuzzylist MetaMask's,
// anything else one domain a line.
func ParseAny(name string, r io.Reader) (*List, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxListBytes+1))
	if err != nil {
		return nil, fmt.Errorf("phishing: list %s: %w", name, err)
	}
	if len(b) > maxListBytes {
		return nil, fmt.Errorf("phishing: list %s is larger than %d bytes", name, maxListBytes)
	}
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(t, &keys); err != nil {
			return nil, fmt.Errorf("phishing: list %s: %w", name, err)
		}
		if _, ok := keys["deny"]; ok {
			return ParsePolkadot(name, bytes.NewReader(b))
		}
		return ParseMetaMask(name, bytes.NewReader(b))
	}
	return ParsePlain(name, bytes.NewReader(b))
}

func decodeJSON(r io.Reader, v any) error {
	b, err := io.ReadAll(io.LimitReader(r, maxListBytes+1))
	if err != nil {
		return err
	}
	if len(b) > maxListBytes {
		return fmt.Errorf("larger than %d bytes", maxListBytes)
	}
	return json.Unmarshal(b, v)
}
