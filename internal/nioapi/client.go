package nioapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"time"

	"github.com/niomon/niomon/internal/policy"
)

// Error is an API error answer.
type Error struct {
	Status    int
	Code      string
	Message   string
	RequestID string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s (HTTP %d, request %s)", e.Code, e.Message, e.Status, e.RequestID)
}

// Client calls the API. With a bearer token it authenticates by
// Authorization header; otherwise it keeps the session cookie (and sends
// the CSRF token) like a browser.
type Client struct {
	base  string
	hc    *http.Client
	token string
	csrf  string
}

// NewClient returns a client for the server at base (e.g.
// http://127.0.0.1:8080). hc may be nil.
func NewClient(base string, hc *http.Client) *Client {
	if hc == nil {
		jar, _ := cookiejar.New(nil)
		hc = &http.Client{Jar: jar, Timeout: 30 * time.Second}
	}
	return &Client{base: base, hc: hc}
}

// SetToken makes the client use a bearer token.
func (c *Client) SetToken(t string) { c.token = t }

// Token is the bearer token, if any.
func (c *Client) Token() string { return c.token }

// Do sends in (JSON, or nothing) and decodes the answer into out.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	} else if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if t := resp.Header.Get("X-CSRF-Token"); t != "" && c.token == "" {
		c.csrf = t // the cookie session was rotated
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var eb ErrorBody
		if json.Unmarshal(b, &eb) != nil || eb.Error.Code == "" {
			return &Error{Status: resp.StatusCode, Code: "http", Message: http.StatusText(resp.StatusCode)}
		}
		return &Error{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message, RequestID: eb.Error.RequestID}
	}
	if raw, ok := out.(*RawAnswer); ok {
		raw.Header, raw.Body = resp.Header, b
		return nil
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("niomon: decoding the answer to %s %s: %w", method, path, err)
		}
	}
	return nil
}

// RawAnswer, as Do's out, takes an answer that is not JSON (an app's
// icon) as it came.
type RawAnswer struct {
	Header http.Header
	Body   []byte
}

// signedIn keeps what a sign-in answer grants.
func (c *Client) signedIn(s *Session) {
	if s.Token != "" {
		c.token = s.Token
	}
	if s.CSRFToken != "" {
		c.csrf = s.CSRFToken
	}
}

// Config fetches GET /v1/config.
func (c *Client) Config(ctx context.Context) (*Config, error) {
	var out Config
	return &out, c.Do(ctx, "GET", "/v1/config", nil, &out)
}

// Attestation fetches a fresh attestation document of the cluster's
// enclave for nonce (16 to 64 bytes). Check it with
// secretd.VerifyAttestation.
func (c *Client) Attestation(ctx context.Context, nonce []byte) ([]byte, error) {
	var out Attestation
	err := c.Do(ctx, "GET", "/v1/attestation?nonce="+base64.RawURLEncoding.EncodeToString(nonce), nil, &out)
	return out.Document, err
}

// EmailStart sends a sign-in code and link to email.
func (c *Client) EmailStart(ctx context.Context, email string) (*EmailStarted, error) {
	var out EmailStarted
	return &out, c.Do(ctx, "POST", "/v1/auth/email/start", EmailStart{Email: email}, &out)
}

// EmailVerify signs in with the code of a flow.
func (c *Client) EmailVerify(ctx context.Context, flowID, code string, bearer bool) (*Session, error) {
	var out Session
	if err := c.Do(ctx, "POST", "/v1/auth/email/verify", EmailVerify{FlowID: flowID, Code: code, Bearer: bearer}, &out); err != nil {
		return nil, err
	}
	c.signedIn(&out)
	return &out, nil
}

// LinkConfirm signs in with a magic-link token.
func (c *Client) LinkConfirm(ctx context.Context, token string, bearer bool) (*Session, error) {
	var out Session
	if err := c.Do(ctx, "POST", "/v1/auth/email/link", LinkConfirm{Token: token, Bearer: bearer}, &out); err != nil {
		return nil, err
	}
	c.signedIn(&out)
	return &out, nil
}

// Signer is an API key: a P-256 key that can sign (secretd.P256Key).
type Signer interface {
	Credential() policy.Credential
	Stamp(request []byte) (*policy.Stamp, error)
}

// apiKeySignIn signs a fresh challenge with k.
func (c *Client) apiKeySignIn(ctx context.Context, path string, k Signer, signup bool) (*Session, error) {
	var ch APIKeyChallenge
	if err := c.Do(ctx, "POST", "/v1/auth/apikey/challenge", struct{}{}, &ch); err != nil {
		return nil, err
	}
	st, err := k.Stamp(append([]byte(APIKeySignedText), ch.Challenge...))
	if err != nil {
		return nil, err
	}
	in := APIKeySignIn{Challenge: ch.Challenge, Signature: st.Signature}
	cred := k.Credential()
	if signup {
		in.PublicKey = cred.PublicKey
	} else {
		in.KeyID = fmt.Sprintf("%x", cred.ID)
	}
	var out Session
	if err := c.Do(ctx, "POST", path, in, &out); err != nil {
		return nil, err
	}
	c.signedIn(&out)
	return &out, nil
}

// APIKeySignup makes an account for an API key and signs in (bearer).
func (c *Client) APIKeySignup(ctx context.Context, k Signer) (*Session, error) {
	return c.apiKeySignIn(ctx, "/v1/auth/apikey/signup", k, true)
}

// AddAPIKey registers another API key for the signed-in user.
func (c *Client) AddAPIKey(ctx context.Context, k Signer) (*Device, error) {
	var ch APIKeyChallenge
	if err := c.Do(ctx, "POST", "/v1/auth/apikey/challenge", struct{}{}, &ch); err != nil {
		return nil, err
	}
	st, err := k.Stamp(append([]byte(APIKeySignedText), ch.Challenge...))
	if err != nil {
		return nil, err
	}
	var out Device
	return &out, c.Do(ctx, "POST", "/v1/apikeys", APIKeySignIn{PublicKey: k.Credential().PublicKey, Challenge: ch.Challenge, Signature: st.Signature}, &out)
}

// APIKeyLogin signs in with an API key (bearer).
func (c *Client) APIKeyLogin(ctx context.Context, k Signer) (*Session, error) {
	return c.apiKeySignIn(ctx, "/v1/auth/apikey/login", k, false)
}

// Me is GET /v1/session.
func (c *Client) Me(ctx context.Context) (*Session, error) {
	var out Session
	if err := c.Do(ctx, "GET", "/v1/session", nil, &out); err != nil {
		return nil, err
	}
	c.signedIn(&out)
	return &out, nil
}

// Wallet is GET /v1/wallet.
func (c *Client) Wallet(ctx context.Context) (*Wallet, error) {
	var out Wallet
	return &out, c.Do(ctx, "GET", "/v1/wallet", nil, &out)
}

// NewRequest encodes a Secretd request for this server's cluster, now,
// with a fresh nonce.
func NewRequest(cfg *Config, method, oid string, params any) ([]byte, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return policy.Encode(method, oid, params, cfg.ClusterIdentity, time.Now().UnixMilli(), nonce)
}

// Stamp makes the JSON stamp of request by k.
func StampWith(k Signer, request []byte) (*Stamped, error) {
	st, err := k.Stamp(request)
	if err != nil {
		return nil, err
	}
	return &Stamped{Request: request, Stamp: Stamp{CredentialID: st.CredentialID, Signature: st.Signature, AuthenticatorData: st.AuthenticatorData, ClientDataJSON: st.ClientDataJSON}}, nil
}

// ProveWith adds to s the stamps of its request by the credentials the
// policy change adds (each must agree to be listed).
func ProveWith(s *Stamped, adding ...Signer) error {
	for _, k := range adding {
		st, err := k.Stamp(s.Request)
		if err != nil {
			return err
		}
		s.Proofs = append(s.Proofs, Stamp{CredentialID: st.CredentialID, Signature: st.Signature, AuthenticatorData: st.AuthenticatorData, ClientDataJSON: st.ClientDataJSON})
	}
	return nil
}

// Post sends a stamped request to path and decodes the answer.
func (c *Client) Post(ctx context.Context, path string, s *Stamped, out any) error {
	return c.Do(ctx, "POST", path, s, out)
}
