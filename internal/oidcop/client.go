package oidcop

import (
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/niomon/niomon/internal/authdb"
)

// client is a registered app as an OpenID client (op.Client). An app
// with a client secret is a confidential client (HTTP Basic or POST); one
// without is a public client, which must use PKCE with S256.
type client struct {
	app          authdb.App
	confidential bool
	loginURL     func(id string) string
}

func (c *client) GetID() string                    { return c.app.ID }
func (c *client) RedirectURIs() []string           { return c.app.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string { return c.app.RedirectURIs }
func (c *client) LoginURL(id string) string        { return c.loginURL(id) }
func (c *client) AccessTokenType() op.AccessTokenType {
	return op.AccessTokenTypeBearer
}
func (c *client) IDTokenLifetime() time.Duration { return IDTokenLifetime }
func (c *client) ClockSkew() time.Duration       { return 0 }

func (c *client) ApplicationType() op.ApplicationType {
	if c.confidential {
		return op.ApplicationTypeWeb
	}
	return op.ApplicationTypeUserAgent
}

func (c *client) AuthMethod() oidc.AuthMethod {
	if c.confidential {
		return oidc.AuthMethodBasic
	}
	return oidc.AuthMethodNone
}

func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

func (c *client) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}

// DevMode lets http redirect URIs through op's checks: the registry
// accepts http only for localhost with a port (apps.ParseRedirectURI), so
// this admits exactly those.
func (c *client) DevMode() bool {
	return slices.ContainsFunc(c.app.RedirectURIs, func(u string) bool { return strings.HasPrefix(u, "http://") })
}

func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// IsScopeAllowed admits the scopes beyond op's own: wallet.
func (c *client) IsScopeAllowed(scope string) bool { return scope == ScopeWallet }

// IDTokenUserinfoClaimsAssertion puts the scopes' claims (email, wallet
// addresses) in the ID token, so an app needs no userinfo call.
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
