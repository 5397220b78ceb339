package authdb

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Limits. They are part of the API: inputs beyond them are refused with
// ErrInvalid and an error that names the limit.
const (
	MaxEmailLen             = 254 // RFC 5321 path limit
	MaxPurposeLen           = 32  // [a-z0-9_]
	MaxUserAgentLen         = 512 // callers truncate longer ones
	MaxLabelLen             = 128
	MaxCredentialIDLen      = 1023 // WebAuthn §5.8.3
	MaxPublicKeyLen         = 2048 // COSE_Key
	MaxSPKILen              = 2048 // DER; an RSA-4096 SPKI is ~550 bytes
	MaxTransports           = 8
	MaxTransportLen         = 32 // [a-z0-9-]
	MaxAttestationFormatLen = 32 // [a-z0-9-]
	MaxProviderLen          = 255
	MaxSubjectLen           = 255 // OpenID Connect Core §2: sub is at most 255 ASCII characters
	MaxChainLen             = 32  // [a-z0-9_-]
	MaxPathLen              = 128
	MaxAddressLen           = 128
	MaxAddressKeyLen        = 256
	MaxStatementLen         = 1024
	MaxEventLen             = 64 // [a-z0-9_.]
	MaxRequestIDLen         = 128
	MaxAuditDetailLen       = 4096 // bytes of JSON
	MaxBucketLen            = 512
	MaxListLimit            = 1000 // rows per List call

	MaxCodeAttempts = 5         // wrong codes a challenge survives
	MaxChallengeTTL = time.Hour // longest a challenge may live
	MinWindow       = time.Second
	MaxWindow       = 31 * 24 * time.Hour
	MaxSessionTTL   = 400 * 24 * time.Hour // browsers cap cookies at 400 days
)

// The range of times accepted: sqldb's SQLite form orders correctly for
// four-digit years, and nothing here predates the project.
var (
	minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

func checkTime(name string, t time.Time) error {
	if t.Before(minTime) || t.After(maxTime) {
		return invalid("%s is outside 2000..9999 (zero?)", name)
	}
	return nil
}

// checkUserID accepts the canonical lowercase form of a UUID, which is
// what CreateUser issues.
func checkUserID(id string) error {
	u, err := uuid.Parse(id)
	if err != nil || len(id) != 36 || u.String() != id {
		return invalid("user id is not a canonical lowercase UUID")
	}
	return nil
}

// checkText checks a bounded string: valid UTF-8 without control
// characters (which also keeps NUL out, which PostgreSQL's text cannot
// hold). It never echoes s.
func checkText(name, s string, minLen, maxLen int) error {
	if len(s) < minLen || len(s) > maxLen {
		return invalid("%s is %d bytes, want %d..%d", name, len(s), minLen, maxLen)
	}
	if !utf8.ValidString(s) {
		return invalid("%s is not valid UTF-8", name)
	}
	for i, r := range s {
		if r < 0x20 || r == 0x7f || (0x80 <= r && r < 0xa0) {
			return invalid("%s has control character U+%04X at offset %d", name, r, i)
		}
	}
	return nil
}

// checkToken checks s against [a-z0-9<extra>]{minLen,maxLen}.
func checkToken(name, s string, minLen, maxLen int, extra string) error {
	if len(s) < minLen || len(s) > maxLen {
		return invalid("%s is %d bytes, want %d..%d", name, len(s), minLen, maxLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte(extra, c) >= 0) {
			return invalid("%s has byte 0x%02x at offset %d, want only [a-z0-9%s]", name, c, i, extra)
		}
	}
	return nil
}

// checkEmail checks the shape of an address the caller has normalised: it
// does not normalise (that is the caller's policy), it refuses what cannot
// be a normalised address: no '@' with text on both sides, spaces or
// controls, upper-case ASCII, invalid UTF-8, over MaxEmailLen.
func checkEmail(email string) error {
	if err := checkText("email", email, 3, MaxEmailLen); err != nil {
		return err
	}
	at := strings.LastIndexByte(email, '@')
	if at < 1 || at == len(email)-1 {
		return invalid("email has no local part, '@' and domain")
	}
	for i := 0; i < len(email); i++ {
		if c := email[i]; c == ' ' || 'A' <= c && c <= 'Z' {
			return invalid("email has byte 0x%02x at offset %d: not normalised", c, i)
		}
	}
	return nil
}

func checkBytes(name string, b []byte, minLen, maxLen int) error {
	if len(b) < minLen || len(b) > maxLen {
		return invalid("%s is %d bytes, want %d..%d", name, len(b), minLen, maxLen)
	}
	return nil
}

func checkSPKI(spki []byte) error {
	if err := checkBytes("SPKI", spki, 1, MaxSPKILen); err != nil {
		return err
	}
	if _, err := x509.ParsePKIXPublicKey(spki); err != nil {
		return invalid("SPKI does not parse as a public key")
	}
	return nil
}

func checkLimit(limit int) error {
	if limit < 1 || limit > MaxListLimit {
		return invalid("limit is %d, want 1..%d", limit, MaxListLimit)
	}
	return nil
}

// encodeTransports joins WebAuthn transport hints ("usb", "nfc", "ble",
// "internal", "hybrid", …) with commas, after checking each.
func encodeTransports(ts []string) (string, error) {
	if len(ts) > MaxTransports {
		return "", invalid("%d transports, want at most %d", len(ts), MaxTransports)
	}
	for i, t := range ts {
		if err := checkToken("transport "+strconv.Itoa(i), t, 1, MaxTransportLen, "-"); err != nil {
			return "", err
		}
	}
	return strings.Join(ts, ","), nil
}

// decodeTransports is the inverse of encodeTransports.
func decodeTransports(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// checkDerivationPath accepts BIP32-style paths: "m", then up to 16
// "/index" segments, each index a decimal below 2^31 without leading
// zeros, optionally hardened with ' or h.
func checkDerivationPath(p string) error {
	if len(p) < 1 || len(p) > MaxPathLen {
		return invalid("path is %d bytes, want 1..%d", len(p), MaxPathLen)
	}
	if p[0] != 'm' {
		return invalid("path does not start with m")
	}
	if p == "m" {
		return nil
	}
	if p[1] != '/' {
		return invalid("path has byte 0x%02x at offset 1, want /", p[1])
	}
	segs := strings.Split(p[2:], "/")
	if len(segs) > 16 {
		return invalid("path has %d levels, want at most 16", len(segs))
	}
	for i, seg := range segs {
		if strings.HasSuffix(seg, "'") || strings.HasSuffix(seg, "h") {
			seg = seg[:len(seg)-1]
		}
		n, err := strconv.ParseUint(seg, 10, 32)
		if err != nil || n >= 1<<31 || (len(seg) > 1 && seg[0] == '0') {
			return invalid("path level %d is not an index below 2^31 (optionally hardened with ' or h)", i+1)
		}
	}
	return nil
}

// checkAuditDetail accepts a JSON object of at most MaxAuditDetailLen
// bytes (empty means {}).
func checkAuditDetail(detail []byte) error {
	if len(detail) > MaxAuditDetailLen {
		return invalid("audit detail is %d bytes, want at most %d", len(detail), MaxAuditDetailLen)
	}
	if len(detail) == 0 {
		return nil
	}
	var obj map[string]json.RawMessage
	if !utf8.Valid(detail) || json.Unmarshal(detail, &obj) != nil || obj == nil {
		return invalid("audit detail is not a JSON object")
	}
	return nil
}
