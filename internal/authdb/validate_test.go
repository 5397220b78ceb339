package authdb

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// The fuzz targets check the hand-written validators against second,
// deliberately different statements of the same rules.

var refDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)

func FuzzParseDigest(f *testing.F) {
	for _, s := range []string{"", strings.Repeat("0", 64), strings.Repeat("f", 64), strings.Repeat("F", 64), strings.Repeat("a", 63), digest("x").Hex(), digest("x").Hex() + "0", "0x" + strings.Repeat("1", 62)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDigest(s)
		if want := refDigest.MatchString(s); (err == nil) != want {
			t.Fatalf("ParseDigest(%q): got %v, want valid=%v", s, err, want)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseDigest(%q): got %v, want ErrInvalid", s, err)
			}
			return
		}
		if d.Hex() != s {
			t.Fatalf("ParseDigest(%q).Hex(): got %q, want the input", s, d.Hex())
		}
	})
}

// refEmail: 3..254 bytes of UTF-8, no control characters, space or ASCII
// upper case, and a last '@' with something on both sides.
func refEmail(s string) bool {
	if len(s) < 3 || len(s) > 254 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == ' ' || (r >= 'A' && r <= 'Z') {
			return false
		}
	}
	i := strings.LastIndex(s, "@")
	return i > 0 && i < len(s)-1
}

func FuzzCheckEmail(f *testing.F) {
	for _, s := range []string{"a@b", "alice@example.com", "Alice@example.com", "@example.com", "alice@", "a b@c", "ünï@cødé.de", "a@b@c", "a@\x00", "a\u0085@b", "\xff@b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := checkEmail(s)
		if want := refEmail(s); (err == nil) != want {
			t.Fatalf("checkEmail(%q): got %v, want valid=%v", s, err, want)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("checkEmail(%q): got %v, want ErrInvalid", s, err)
		}
		// Short inputs may occur in any message by chance ("1 bytes").
		if err != nil && len(s) >= 8 && strings.Contains(err.Error(), s) {
			t.Fatalf("checkEmail(%q): got %q, want an error without the input", s, err)
		}
	})
}

var refPath = regexp.MustCompile(`^m(/(0|[1-9][0-9]{0,9})['h]?){0,16}$`)

func refDerivationPath(p string) bool {
	if len(p) > MaxPathLen || !refPath.MatchString(p) {
		return false
	}
	for _, seg := range strings.Split(p, "/")[1:] {
		n, _ := strconv.ParseUint(strings.TrimRight(seg, "'h"), 10, 64)
		if n >= 1<<31 {
			return false
		}
	}
	return true
}

func FuzzCheckDerivationPath(f *testing.F) {
	for _, s := range []string{"m", "m/", "m/0", "m/44'/60'/0'/0/0", "m/84h/0h/0h/0/0", "m/2147483647'", "m/2147483648", "m/01", "m/1''", "m/1h'", "M/0", "m/-1", "m/+1", "m//0", "m/0/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		err := checkDerivationPath(p)
		if want := refDerivationPath(p); (err == nil) != want {
			t.Fatalf("checkDerivationPath(%q): got %v, want valid=%v", p, err, want)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("checkDerivationPath(%q): got %v, want ErrInvalid", p, err)
		}
	})
}

var refTransport = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

// FuzzTransports: encodeTransports accepts exactly the lists the rules
// allow, and decodeTransports gives them back.
func FuzzTransports(f *testing.F) {
	f.Add("usb,nfc")
	f.Add("internal,hybrid,ble,smart-card")
	f.Add("")
	f.Add(",")
	f.Add("a,b,c,d,e,f,g,h,i")
	f.Add("USB")
	f.Fuzz(func(t *testing.T, joined string) {
		var ts []string
		if joined != "" {
			ts = strings.Split(joined, ",")
		}
		want := len(ts) <= MaxTransports && !slices.ContainsFunc(ts, func(s string) bool { return !refTransport.MatchString(s) })
		enc, err := encodeTransports(ts)
		if (err == nil) != want {
			t.Fatalf("encodeTransports(%q): got %v, want valid=%v", ts, err, want)
		}
		if err != nil {
			return
		}
		if got := decodeTransports(enc); !slices.Equal(got, ts) {
			t.Fatalf("decodeTransports(encodeTransports(%q)): got %q", ts, got)
		}
	})
}

// FuzzAuditDetail: what checkAuditDetail accepts is a JSON object within
// the limit, and every such object is accepted.
func FuzzAuditDetail(f *testing.F) {
	for _, s := range []string{"", "{}", `{"a":1}`, " {\"a\": [1, {\"b\": null}]} ", "[]", "null", `"x"`, "{", `{"a":1}{}`, "{\"a\":\"\xff\"}", `{"a":"\u0000"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := checkAuditDetail(b)
		trimmed := bytes.TrimLeft(b, " \t\r\n")
		want := len(b) == 0 || (len(b) <= MaxAuditDetailLen && json.Valid(b) && utf8.Valid(b) && len(trimmed) > 0 && trimmed[0] == '{')
		if (err == nil) != want {
			t.Fatalf("checkAuditDetail(%q): got %v, want valid=%v", b, err, want)
		}
	})
}

func TestCheckUserIDAcceptsOnlyCanonicalUUIDs(t *testing.T) {
	tests := []struct {
		name, id string
		valid    bool
	}{
		{"Canonical", "0b6e1f4c-3a5d-4c1e-9f2a-7d8e9f0a1b2c", true},
		{"Uppercase", "0B6E1F4C-3A5D-4C1E-9F2A-7D8E9F0A1B2C", false},
		{"NoHyphens", "0b6e1f4c3a5d4c1e9f2a7d8e9f0a1b2c", false},
		{"Braced", "{0b6e1f4c-3a5d-4c1e-9f2a-7d8e9f0a1b2c}", false},
		{"URN", "urn:uuid:0b6e1f4c-3a5d-4c1e-9f2a-7d8e9f0a1b2c", false},
		{"Empty", "", false},
		{"NotHex", "0b6e1f4c-3a5d-4c1e-9f2a-7d8e9f0a1b2g", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkUserID(tc.id); (err == nil) != tc.valid {
				t.Fatalf("checkUserID(%q): got %v, want valid=%v", tc.id, err, tc.valid)
			}
		})
	}
}

func TestCheckFlowIDAcceptsOnly22Base64URLCharacters(t *testing.T) {
	tests := []struct {
		name, id string
		valid    bool
	}{
		{"Issued", "q83vEjRWeJq83vEjRWeJqw", true},
		{"AllURLAlphabet", "-_-_-_-_-_-_-_-_-_-_-w", true},
		{"StandardAlphabet", "+/+/+/+/+/+/+/+/+/+/+w", false},
		{"Padded", "q83vEjRWeJq83vEjRWeJ==", false},
		{"TooShort", "q83vEjRWeJq83vEjRWeJq", false},
		{"TooLong", "q83vEjRWeJq83vEjRWeJqwA", false},
		{"NonCanonicalTrailingBits", "q83vEjRWeJq83vEjRWeJqx", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkFlowID(tc.id); (err == nil) != tc.valid {
				t.Fatalf("checkFlowID(%q): got %v, want valid=%v", tc.id, err, tc.valid)
			}
		})
	}
}

func TestDigestEqualComparesEveryByte(t *testing.T) {
	a := digest("a")
	for i := range a {
		b := a
		b[i] ^= 1
		if a.Equal(b) {
			t.Fatalf("digests differing in byte %d: got Equal, want not", i)
		}
	}
	if !a.Equal(digest("a")) {
		t.Fatalf("equal digests: got not Equal")
	}
}
