package server

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"
)

// A flow is the server's state between two steps of a sign-in (an API-key
// challenge, a WebAuthn ceremony, an OIDC redirect), sealed with AES-GCM
// under a key derived from the token key and handed to the client: the
// client cannot read or change it, and the server needs no table for
// flows that are mostly abandoned. Each flow can be spent once (spendFlow).

// flowKeys holds the flow-sealing AEAD.
type flowKeys struct{ aead cipher.AEAD }

func newFlowKeys(k *TokenKey) flowKeys {
	key := k.Digest(purposeFlow, "aes-256-gcm")
	b, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	return flowKeys{aead: g}
}

// Flow kinds: the associated data, so a flow of one kind never opens as
// another.
const (
	flowAPIKey      = "apikey-challenge"
	flowPasskeyReg  = "passkey-registration"
	flowPasskeyAuth = "passkey-login"
	flowOIDC        = "oidc"
)

// maxFlow bounds a sealed flow a client sends back.
const maxFlow = 8 << 10

type flowEnvelope struct {
	Created int64           `json:"c"` // Unix milliseconds
	Expires int64           `json:"e"`
	Data    json.RawMessage `json:"d"`
}

var errFlow = errors.New("flow is malformed, expired or not this server's")

// sealFlow seals v as a flow of kind that expires after ttl.
func (s *Server) sealFlow(kind string, v any, ttl time.Duration) (string, error) {
	d, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	now := s.now()
	pt, err := json.Marshal(flowEnvelope{Created: now.UnixMilli(), Expires: now.Add(ttl).UnixMilli(), Data: d})
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.sealKeys.aead.NonceSize())
	rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(s.sealKeys.aead.Seal(nonce, nonce, pt, []byte(kind))), nil
}

// openFlow opens a flow of kind into v, if it has not expired.
func (s *Server) openFlow(kind, token string, v any) (created time.Time, err error) {
	if len(token) > maxFlow {
		return time.Time{}, errFlow
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	ns := s.sealKeys.aead.NonceSize()
	if err != nil || len(b) < ns {
		return time.Time{}, errFlow
	}
	pt, err := s.sealKeys.aead.Open(nil, b[:ns], b[ns:], []byte(kind))
	if err != nil {
		return time.Time{}, errFlow
	}
	var env flowEnvelope
	if json.Unmarshal(pt, &env) != nil || s.now().UnixMilli() >= env.Expires {
		return time.Time{}, errFlow
	}
	if json.Unmarshal(env.Data, v) != nil {
		return time.Time{}, errFlow
	}
	return time.UnixMilli(env.Created), nil
}

// spendFlow marks a flow used: the first call succeeds, any later one
// (a replay, or a race) fails. It counts a hit in a rate-limit window
// chosen by the flow's creation time, not the clock, so every spend of one
// flow lands in the same window whenever it happens.
func (s *Server) spendFlow(ctx context.Context, token string, created time.Time) error {
	h := sha256.Sum256([]byte(token))
	ok, _, err := s.db.Hit(ctx, "flow_spent:"+hex.EncodeToString(h[:16]), flowSpendWindow, 1, created)
	if err != nil {
		return err
	}
	if !ok {
		return errFlow
	}
	return nil
}

// flowSpendWindow is longer than any flow lives, so a flow's spend
// records outlive it.
const flowSpendWindow = 2 * time.Hour
