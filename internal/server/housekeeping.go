package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/secretd"
)

// ReconcileResult counts what Reconcile did.
type ReconcileResult struct {
	Activated int // pending users whose wallet existed (a crash after creation)
	Removed   int // pending users without a wallet, older than Users.PendingTTL
}

// Reconcile finishes or removes half-made sign-ups. A pending user whose
// wallet exists in secretd (the server stopped between the wallet's
// creation and the user's activation) is activated; one without a wallet
// that is older than Users.PendingTTL is removed. Removal is conditional
// on the user still being pending, so it never races an activation.
func (s *Server) Reconcile(ctx context.Context) (ReconcileResult, error) {
	var res ReconcileResult
	now := s.now()
	// Every pending user is checked for a wallet; only old ones are
	// removed.
	users, err := s.db.ListPendingUsers(ctx, now.Add(time.Second), authdb.MaxListLimit)
	if err != nil {
		return res, err
	}
	for _, u := range users {
		var sr policy.SignedReceipt
		err := s.sd.Call(ctx, "hdwallet_get_policy", []any{u.ID}, &sr)
		switch {
		case err == nil:
			rk, err := s.receiptKey(ctx)
			if err != nil {
				return res, err
			}
			rc, err := secretd.VerifyReceipt(rk, &sr)
			if err != nil {
				return res, fmt.Errorf("server: a receipt from secretd does not verify: %w", err)
			}
			if len(rc.Credentials) == 0 {
				continue
			}
			err = s.db.ActivateUser(ctx, u.ID, rc.Credentials[0].ID, now)
			if err != nil && !errors.Is(err, authdb.ErrConflict) && !errors.Is(err, authdb.ErrNotFound) {
				return res, err
			}
			if err == nil {
				res.Activated++
			}
		case errors.Is(err, secretd.ErrNotFound):
			if now.Sub(u.CreatedAt) < s.cfg.Users.PendingTTL.Duration {
				continue
			}
			err := s.db.DeletePendingUser(ctx, u.ID)
			if err != nil && !errors.Is(err, authdb.ErrConflict) && !errors.Is(err, authdb.ErrNotFound) {
				return res, err
			}
			if err == nil {
				res.Removed++
			}
		default:
			return res, fmt.Errorf("server: checking a pending user's wallet: %w", err)
		}
	}
	return res, nil
}

// Housekeep deletes expired challenges, pairings and sessions, and rate-limit
// windows that ended longer ago than both flowSpendWindow (spent flows
// are recorded in them, and must outlive the flows) and the longest
// limit's window (a sliding limit reads the window before the current
// one). The audit log is kept.
func (s *Server) Housekeep(ctx context.Context) error {
	now := s.now()
	if _, err := s.db.DeleteExpiredChallenges(ctx, now); err != nil {
		return err
	}
	if _, err := s.db.DeleteExpiredPairings(ctx, now); err != nil {
		return err
	}
	if _, err := s.db.DeleteExpiredSessions(ctx, now); err != nil {
		return err
	}
	_, err := s.db.DeleteRateLimitWindows(ctx, now.Add(-max(flowSpendWindow, s.limits.longestWindow())))
	return err
}

// RunHousekeeping reconciles sign-ups and deletes expired rows every
// interval (the first time after one interval) until ctx ends. Errors are
// logged.
func (s *Server) RunHousekeeping(ctx context.Context, interval time.Duration) {
	every(ctx, interval, func() {
		if res, err := s.Reconcile(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Error("reconciling sign-ups failed", "err", err)
		} else if res.Activated+res.Removed > 0 {
			s.log.Info("reconciled sign-ups", "activated", res.Activated, "removed", res.Removed)
		}
		if err := s.Housekeep(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("housekeeping failed", "err", err)
		}
	})
}

// every runs fn every interval (the first time after one interval) until
// ctx ends.
func every(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn()
	}
}
