package authdb

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/niomon/niomon/internal/sqldb"
)

// Limit is a named fixed-window rate limit: at most Max hits per Window
// for each key.
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

// Allow counts a hit of key against l and returns nil if it is within the
// limit, or an error wrapping ErrLimited. The error names the limit, not
// the key.
func (d *DB) Allow(ctx context.Context, l Limit, key string, now time.Time) error {
	if err := checkToken("limit name", l.Name, 1, 64, "_"); err != nil {
		return err
	}
	allowed, n, err := d.Hit(ctx, l.Name+":"+key, l.Window, l.Max, now)
	if err != nil {
		return err
	}
	if !allowed {
		return fmt.Errorf("%w: %s: %d hits in %v, limit %d", ErrLimited, l.Name, n, l.Window, l.Max)
	}
	return nil
}

// LimitHit is one hit of AllowAll: key counted against Limit.
type LimitHit struct {
	Limit Limit
	Key   string
}

// AllowAll counts every hit, in one transaction (one commit for several
// limits), and returns nil if each is within its limit, or an error
// wrapping ErrLimited that names the first limit passed. Every hit is
// counted, passed or not, as Allow would.
func (d *DB) AllowAll(ctx context.Context, hits []LimitHit, now time.Time) error {
	for _, h := range hits {
		if err := checkToken("limit name", h.Limit.Name, 1, 64, "_"); err != nil {
			return err
		}
		if err := checkHit(h.Limit.Name+":"+h.Key, h.Limit.Window, h.Limit.Max, now); err != nil {
			return err
		}
	}
	var limited error
	err := d.tx(ctx, func(tx *sql.Tx) error {
		limited = nil
		for _, h := range hits {
			n, err := d.hit(ctx, tx, h.Limit.Name+":"+h.Key, h.Limit.Window, now)
			if err != nil {
				return err
			}
			if n > int64(h.Limit.Max) && limited == nil {
				limited = fmt.Errorf("%w: %s: %d hits in %v, limit %d", ErrLimited, h.Limit.Name, n, h.Limit.Window, h.Limit.Max)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return limited
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
