package authdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/niomon/niomon/internal/sqldb"
)

// Limit is a named rate limit: at most Max hits per Window for each key,
// over a sliding window. The count is estimated, as the hits of the
// current fixed window (now truncated to a multiple of Window) plus the
// previous window's hits weighted by the part of the previous window
// still inside the sliding one. So a burst at the end of one window and
// another at the start of the next cannot add up to twice Max.
type Limit struct {
	Name   string // [a-z0-9_]; the bucket is Name + ":" + key
	Window time.Duration
	Max    int
}

// The server's limits.
var (
	// Codes and links sent to one address.
	ChallengesPerEmail = Limit{Name: "challenges_per_email", Window: time.Hour, Max: 5}
	// Challenges started from one IP address.
	ChallengesPerIP = Limit{Name: "challenges_per_ip", Window: time.Hour, Max: 30}
	// Failed sign-in attempts (wrong codes, bad assertions) against one
	// identifier (an email address, a credential id), across challenges.
	FailuresPerIdentifier = Limit{Name: "failures_per_identifier", Window: 15 * time.Minute, Max: 10}
)

// LimitedError is what Allow and AllowAll return past a limit. It wraps
// ErrLimited and names the limit, never the key.
type LimitedError struct {
	Limit string
	// RetryAfter is how long until a hit of the same key would be
	// allowed, if none comes in between (hits past the limit count too).
	RetryAfter time.Duration
	estimate   float64
	max        int
	window     time.Duration
}

func (e *LimitedError) Error() string {
	return fmt.Sprintf("%v: %s: about %.1f hits in the last %v, limit %d", ErrLimited, e.Limit, e.estimate, e.window, e.max)
}

func (e *LimitedError) Unwrap() error { return ErrLimited }

// Allow counts a hit of key against l and returns nil if it is within the
// limit, or a *LimitedError.
func (d *DB) Allow(ctx context.Context, l Limit, key string, now time.Time) error {
	return d.AllowAll(ctx, []LimitHit{{Limit: l, Key: key}}, now)
}

// LimitHit is one hit of AllowAll: key counted against Limit.
type LimitHit struct {
	Limit Limit
	Key   string
}

// AllowAll counts every hit, in one transaction (one commit for several
// limits), and returns nil if each is within its limit, or a
// *LimitedError that names the first limit passed. Its RetryAfter is the
// longest wait of every limit passed. A refused call counts nothing: requests a limit refused do not use up
// another limit of the call (one client's refused mails, another's
// budget for the same address).
func (d *DB) AllowAll(ctx context.Context, hits []LimitHit, now time.Time) error {
	for _, h := range hits {
		if err := checkToken("limit name", h.Limit.Name, 1, 64, "_"); err != nil {
			return err
		}
		if err := checkHit(h.Limit.Name+":"+h.Key, h.Limit.Window, h.Limit.Max, now); err != nil {
			return err
		}
	}
	var limited *LimitedError
	err := d.tx(ctx, func(tx *sql.Tx) error {
		limited = nil
		// A refused call is rolled back, so its retry is the same call
		// on the counts before it: the wait covers every limit this call
		// passed, the first of which the error names.
		var wait time.Duration
		for _, h := range hits {
			bucket, w := h.Limit.Name+":"+h.Key, h.Limit.Window
			cur, err := d.hit(ctx, tx, bucket, w, now)
			if err != nil {
				return err
			}
			prev, err := d.previousHits(ctx, tx, bucket, w, now)
			if err != nil {
				return err
			}
			start := now.UTC().Truncate(w)
			f := float64(now.Sub(start)) / float64(w) // how far into the current window
			estimate := float64(cur) + float64(prev)*(1-f)
			if estimate > float64(h.Limit.Max) {
				wait = max(wait, retryAfter(cur-1, prev, h.Limit.Max, f, w))
				if limited == nil {
					limited = &LimitedError{Limit: h.Limit.Name, estimate: estimate, max: h.Limit.Max, window: w}
				}
			}
		}
		if limited != nil {
			limited.RetryAfter = wait
			return errRefused // roll the counts back
		}
		return nil
	})
	if err != nil && !errors.Is(err, errRefused) {
		return err
	}
	if limited != nil {
		return limited
	}
	return nil
}

// errRefused rolls back the transaction of a refused AllowAll.
var errRefused = errors.New("authdb: refused by a limit")

// Spent reports whether one more hit of key against l would pass it: as
// AllowAll would count, without counting anything.
func (d *DB) Spent(ctx context.Context, l Limit, key string, now time.Time) (bool, error) {
	bucket, w := l.Name+":"+key, l.Window
	if err := checkHit(bucket, w, l.Max, now); err != nil {
		return false, err
	}
	start := now.UTC().Truncate(w)
	var cur int64
	err := d.db.QueryRowContext(ctx,
		d.q(`SELECT hits FROM rate_limits WHERE bucket = ? AND window_start = ? AND window_end = ?`),
		bucket, d.t(start), d.t(start.Add(w)),
	).Scan(&cur)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, dbError("rate limit window", err)
	}
	prev, err := d.previousHits(ctx, d.db, bucket, w, now)
	if err != nil {
		return false, err
	}
	f := float64(now.Sub(start)) / float64(w)
	return float64(cur)+float64(prev)*(1-f)+1 > float64(l.Max), nil
}

// retryAfter is how long from now (fraction f into the current window)
// until one more hit would keep the estimate within limit, given cur hits
// in the current window and prev in the previous one. It is rounded up to
// whole seconds.
func retryAfter(cur, prev int64, limit int, f float64, w time.Duration) time.Duration {
	m := float64(limit)
	var at float64 // in windows from the current window's start
	if next := float64(cur + 1); next <= m && prev > 0 {
		// Later in this window: next + prev·(1-at) ≤ m.
		at = 1 - (m-next)/float64(prev)
	} else {
		// In the next window, where cur weighs as prev: 1 + cur·(1-h) ≤ m.
		h := 0.0
		if cur > 0 {
			h = max(0, 1-(m-1)/float64(cur))
		}
		at = 1 + h
	}
	wait := time.Duration(math.Ceil((at - f) * float64(w)))
	wait = max(wait, 0) + time.Millisecond // float slack
	return (wait + time.Second - 1).Truncate(time.Second)
}

// previousHits is the hit count of bucket's window before the current one.
func (d *DB) previousHits(ctx context.Context, q queryer, bucket string, window time.Duration, now time.Time) (int64, error) {
	start := now.UTC().Truncate(window)
	var hits int64
	err := q.QueryRowContext(ctx,
		d.q(`SELECT hits FROM rate_limits WHERE bucket = ? AND window_start = ? AND window_end = ?`),
		bucket, d.t(start.Add(-window)), d.t(start),
	).Scan(&hits)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, dbError("rate limit previous window", err)
	}
	return hits, nil
}

func checkHit(bucket string, window time.Duration, limit int, now time.Time) error {
	if err := checkText("bucket", bucket, 1, MaxBucketLen); err != nil {
		return err
	}
	if window < MinWindow || window > MaxWindow || window%sqldb.TimePrecision != 0 {
		return invalid("window is %v, want %v..%v in whole milliseconds", window, MinWindow, MaxWindow)
	}
	if limit < 1 || limit > math.MaxInt32 {
		return invalid("limit is %d, want 1..%d", limit, math.MaxInt32)
	}
	return checkTime("now", now)
}

// hit is Hit's upsert on q; it returns the window's count.
func (d *DB) hit(ctx context.Context, q queryer, bucket string, window time.Duration, now time.Time) (int64, error) {
	start := now.UTC().Truncate(window)
	var hits int64
	err := q.QueryRowContext(ctx,
		d.q(`INSERT INTO rate_limits (bucket, window_start, window_end, hits) VALUES (?, ?, ?, 1)
			ON CONFLICT (bucket, window_start, window_end) DO UPDATE SET hits = rate_limits.hits + 1
			RETURNING hits`),
		bucket, d.t(start), d.t(start.Add(window)),
	).Scan(&hits)
	if err != nil {
		return 0, dbError("rate limit hit", err)
	}
	return hits, nil
}

// Hit counts one hit in bucket's current window (now truncated to a
// multiple of window) and reports whether the count, this hit included, is
// within limit. It is one upsert, atomic across concurrent callers and
// processes: of n simultaneous hits on a fresh window exactly limit are
// allowed. Hits over the limit are counted too.
func (d *DB) Hit(ctx context.Context, bucket string, window time.Duration, limit int, now time.Time) (allowed bool, count int, err error) {
	if err := checkHit(bucket, window, limit, now); err != nil {
		return false, 0, err
	}
	hits, err := d.hit(ctx, d.db, bucket, window, now)
	if err != nil {
		return false, 0, err
	}
	return hits <= int64(limit), int(min(hits, math.MaxInt32)), nil
}

// DeleteRateLimitWindows deletes the windows that ended at or before
// before, and returns how many.
func (d *DB) DeleteRateLimitWindows(ctx context.Context, before time.Time) (int64, error) {
	if err := checkTime("before", before); err != nil {
		return 0, err
	}
	n, err := affected(d.db.ExecContext(ctx, d.q(`DELETE FROM rate_limits WHERE window_end <= ?`), d.t(before)))
	if err != nil {
		return 0, dbError("delete rate limit windows", err)
	}
	return n, nil
}
