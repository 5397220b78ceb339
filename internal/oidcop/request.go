package oidcop

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/niomon/niomon/internal/authdb"
)

// request is what a grant stores of an authorization request: enough to
// show the user what is asked, to answer the client, and to bind the
// code to the client, its redirect URI and its PKCE challenge.
type request struct {
	ClientID            string                   `json:"client_id"`
	RedirectURI         string                   `json:"redirect_uri"`
	Scopes              []string                 `json:"scopes"`
	ResponseType        oidc.ResponseType        `json:"response_type"`
	ResponseMode        oidc.ResponseMode        `json:"response_mode,omitempty"`
	State               string                   `json:"state,omitempty"`
	Nonce               string                   `json:"nonce,omitempty"`
	CodeChallenge       string                   `json:"code_challenge,omitempty"`
	CodeChallengeMethod oidc.CodeChallengeMethod `json:"code_challenge_method,omitempty"`
	Prompt              []string                 `json:"prompt,omitempty"`
	MaxAge              *uint                    `json:"max_age,omitempty"`
	LoginHint           string                   `json:"login_hint,omitempty"`
	HintSubject         string                   `json:"hint_subject,omitempty"` // the id_token_hint's subject
}

// authRequest is a grant as zitadel's op sees it (op.AuthRequest).
type authRequest struct {
	g   authdb.OIDCGrant
	req request
	// code is the digest of the code this request was read by, to be
	// spent when op issues tokens for it (after it checked the client and
	// PKCE); zero otherwise.
	code authdb.Digest
}

func decodeGrant(g authdb.OIDCGrant) (*authRequest, error) {
	var req request
	if err := json.Unmarshal(g.Request, &req); err != nil {
		return nil, oidc.ErrServerError().WithDescription("a stored authorization request is unreadable")
	}
	return &authRequest{g: g, req: req}, nil
}

func (a *authRequest) GetID() string    { return a.g.ID }
func (a *authRequest) GetACR() string   { return "" }
func (a *authRequest) GetAMR() []string { return strings.Fields(a.g.AMR) }
func (a *authRequest) GetAudience() []string {
	return []string{a.req.ClientID}
}
func (a *authRequest) GetAuthTime() time.Time             { return a.g.AuthTime }
func (a *authRequest) GetClientID() string                { return a.req.ClientID }
func (a *authRequest) GetNonce() string                   { return a.req.Nonce }
func (a *authRequest) GetRedirectURI() string             { return a.req.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return a.req.ResponseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return a.req.ResponseMode }
func (a *authRequest) GetScopes() []string                { return a.req.Scopes }
func (a *authRequest) GetState() string                   { return a.req.State }
func (a *authRequest) GetSubject() string                 { return a.g.UserID }
func (a *authRequest) Done() bool                         { return a.g.UserID != "" }

func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.req.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.req.CodeChallenge, Method: a.req.CodeChallengeMethod}
}

// refreshRequest is a refresh token's grant as op sees it
// (op.RefreshTokenRequest).
type refreshRequest struct {
	authRequest
	tokenID string
	scopes  []string
}

func (r *refreshRequest) GetScopes() []string              { return r.scopes }
func (r *refreshRequest) SetCurrentScopes(scopes []string) { r.scopes = scopes }

// grantOf is the grant id behind a token request op hands back.
func grantOf(r any) (*authRequest, bool) {
	switch v := r.(type) {
	case *authRequest:
		return v, true
	case *refreshRequest:
		return &v.authRequest, true
	}
	return nil, false
}
