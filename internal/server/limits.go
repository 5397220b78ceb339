package server

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/niomon/niomon/internal/authdb"
)

// The server's rate limits. Config.RateLimits can change any Max by name
// (e.g. for a load test from one address).
var defaultLimits = []authdb.Limit{
	// Sign-in mails to one address asked for from one network: bounds
	// mail bombing, and one attacker's mails do not use up its owner's.
	{Name: "challenges_per_email", Window: time.Hour, Max: 5},
	// Sign-in mails to one address from every network together: bounds
	// mail bombing from many networks. Each of those mails holds a link
	// that signs its owner in.
	{Name: "challenges_per_email_all", Window: time.Hour, Max: 20},
	// Sign-in mails asked for from one IP address.
	{Name: "challenges_per_ip", Window: time.Hour, Max: 30},
	// Code and link attempts from one IP address.
	{Name: "verify_per_ip", Window: 15 * time.Minute, Max: 60},
	// Six-digit code attempts against one address, across all its
	// flows, so that starting many flows does not multiply the guesses.
	// Once they are spent, new flows get long codes (longCode), which
	// these do not count: guessing stays bounded, and the owner can still
	// sign in.
	{Name: "attempts_per_email", Window: 15 * time.Minute, Max: 10},
	{Name: "attempts_per_email_day", Window: 24 * time.Hour, Max: 30},
	// Attestation documents asked for from one IP address (each is
	// signed by the enclave's hardware).
	{Name: "attestations_per_ip", Window: 15 * time.Minute, Max: 60},
	// API-key and passkey sign-ups from one IP address.
	{Name: "signups_per_ip", Window: time.Hour, Max: 30},
	// Domain checks (DNS lookups and HTTPS fetches the server makes) one
	// developer asks for.
	{Name: "domain_checks_per_user", Window: time.Hour, Max: 30},
}

// limits is the table in force.
type limits map[string]authdb.Limit

func newLimits(over map[string]int) (limits, error) {
	l := limits{}
	for _, d := range defaultLimits {
		l[d.Name] = d
	}
	for name, max := range over {
		d, ok := l[name]
		if !ok {
			return nil, &SettingError{"rate_limits." + name, "no such limit"}
		}
		if max < 1 {
			return nil, &SettingError{"rate_limits." + name, "must be at least 1"}
		}
		d.Max = max
		l[name] = d
	}
	return l, nil
}

// emailBucket is the rate-limit key of an email address: a keyed digest
// (the first 16 bytes, in hex), so that the rate_limits table does not
// list who signs in.
func (s *Server) emailBucket(email string) string {
	d := s.tokens.Digest(purposeLimit, email)
	return hex.EncodeToString(d[:16])
}

// allow counts a hit against the named limit for key and answers
// rate_limited past it.
func (s *Server) allow(ctx context.Context, name, key string) error {
	return s.allowAll(ctx, name, key)
}

// allowAll counts hits given as name, key, name, key, … in one database
// transaction, and answers rate_limited if any passes its limit.
func (s *Server) allowAll(ctx context.Context, nameKeys ...string) error {
	hits := make([]authdb.LimitHit, 0, len(nameKeys)/2)
	for i := 0; i+1 < len(nameKeys); i += 2 {
		l, ok := s.limits[nameKeys[i]]
		if !ok {
			return fmt.Errorf("server: unknown limit %q", nameKeys[i])
		}
		hits = append(hits, authdb.LimitHit{Limit: l, Key: nameKeys[i+1]})
	}
	err := s.db.AllowAll(ctx, hits, s.now())
	if le, ok := errors.AsType[*authdb.LimitedError](err); ok {
		return &APIError{Status: http.StatusTooManyRequests, Code: CodeRateLimited, RetryAfter: le.RetryAfter,
			Message: fmt.Sprintf("too many attempts; try again in %v", le.RetryAfter)}
	}
	return err
}

// longestWindow is the longest window of the limits in force.
func (l limits) longestWindow() time.Duration {
	var w time.Duration
	for _, d := range l {
		w = max(w, d.Window)
	}
	return w
}
