package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// TokenKey keys the HMACs under which one-time codes, magic-link tokens
// and session tokens are stored: the database holds digests only, so a
// copy of it lets nobody sign in.
type TokenKey struct{ k [32]byte }

// ParseTokenKey decodes a base64 32-byte key.
func ParseTokenKey(b64 string) (*TokenKey, error) {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b) != 32 {
		return nil, errors.New("the token key must be 32 bytes in base64")
	}
	k := &TokenKey{}
	copy(k.k[:], b)
	clear(b)
	return k, nil
}

// NewTokenKey makes a random key and returns it with its base64 form.
func NewTokenKey() (*TokenKey, string, error) {
	k := &TokenKey{}
	if _, err := rand.Read(k.k[:]); err != nil {
		return nil, "", err
	}
	return k, base64.StdEncoding.EncodeToString(k.k[:]), nil
}

// Digest is HMAC-SHA256(key, purpose ‖ 0 ‖ secret). The purpose keeps a
// digest of one kind of secret from matching another kind.
func (k *TokenKey) Digest(purpose, secret string) [32]byte {
	m := hmac.New(sha256.New, k.k[:])
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(secret))
	var d [32]byte
	m.Sum(d[:0])
	return d
}

// Purposes of digests.
const (
	purposeCode    = "email-code"
	purposeLink    = "email-link"
	purposeSession = "session"
	purposeCSRF    = "csrf"
	purposeFlow    = "flow-seal"
	purposeLimit   = "rate-limit-email"
)

// newToken returns 32 random bytes in base64url: session tokens, link
// tokens and flow ids.
func newToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// codeDigits is the length of an email sign-in code.
const codeDigits = 6

// newCode returns a uniformly random decimal code.
// A long code is what a flow gets while the address's six-digit guesses
// are spent (an attack): 10 symbols of Crockford's base32 (50 bits), shown
// as XXXXX-XXXXX. Its attempts are not counted per address: five per flow
// have no chance of finding it.
const (
	longCodeLen      = 10
	longCodeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
)

func newLongCode() string {
	b := make([]byte, longCodeLen)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(longCodeAlphabet))))
		if err != nil {
			panic(err)
		}
		b[i] = longCodeAlphabet[n.Int64()]
	}
	return string(b)
}

// showCode is a code as the mail shows it.
func showCode(code string) string {
	if len(code) == longCodeLen {
		return code[:5] + "-" + code[5:]
	}
	return code
}

// parseCode reads a code as a person types it back: six digits, or a long
// code in either case, with or without its dash and spaces. ok is false
// for anything else.
func parseCode(s string) (code string, long, ok bool) {
	if len(s) == codeDigits && strings.Trim(s, "0123456789") == "" {
		return s, false, true
	}
	if len(s) > 2*longCodeLen {
		return "", false, false
	}
	for i := range len(s) { // ASCII only: ToUpper maps some other letters to ASCII ones (ſ to S)
		if s[i] >= 0x80 {
			return "", false, false
		}
	}
	s = strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(s))
	if len(s) != longCodeLen {
		return "", false, false
	}
	for i := range len(s) {
		if strings.IndexByte(longCodeAlphabet, s[i]) < 0 {
			return "", false, false
		}
	}
	return s, true, true
}

func newCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("%0*d", codeDigits, n.Int64())
}
