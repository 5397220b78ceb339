package authdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/netip"
	"time"

	"github.com/niomon/niomon/internal/sqldb"
)

// PhishingOverride is an administrator's verdict for a host and its
// subdomains (migration 0008).
type PhishingOverride struct {
	Host      string // normalised (lowercase ASCII) by the caller
	Verdict   string // allow, warn or block
	Reason    string // why; shown to administrators and, for a block, to the user
	Appeal    string // what a blocked user is told to do; may be empty
	AdminID   string
	UpdatedAt time.Time
}

// Limits of an override.
const (
	MaxPhishingHostLen   = 253
	MaxPhishingReasonLen = 1024
)

// OverrideChange is who changes an override, from where, for the audit
// event.
type OverrideChange struct {
	AdminID   string
	IP        netip.Addr
	RequestID string
	At        time.Time
}

func (c OverrideChange) check() error {
	if err := checkUserID(c.AdminID); err != nil {
		return err
	}
	return checkTime("at", c.At)
}

func (d *DB) overrideAudit(ctx context.Context, tx *sql.Tx, c OverrideChange, detail map[string]string) error {
	b, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	if err := checkAuditDetail(b); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, d.q(`INSERT INTO audit_log (at, user_id, event, ip, request_id, detail) VALUES (?, ?, ?, ?, ?, ?)`),
		d.t(c.At), c.AdminID, "phishing.override", ipArg(c.IP), c.RequestID, string(b))
	return err
}

// PutPhishingOverride sets the override for o.Host and records the audit
// event "phishing.override" in the same transaction.
func (d *DB) PutPhishingOverride(ctx context.Context, o PhishingOverride, c OverrideChange) error {
	if err := checkText("host", o.Host, 1, MaxPhishingHostLen); err != nil {
		return err
	}
	if o.Verdict != "allow" && o.Verdict != "warn" && o.Verdict != "block" {
		return invalid("verdict %q is not allow, warn or block", o.Verdict)
	}
	if err := checkText("reason", o.Reason, 1, MaxPhishingReasonLen); err != nil {
		return err
	}
	if err := checkText("appeal", o.Appeal, 0, MaxPhishingReasonLen); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	err := d.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, d.q(`INSERT INTO phishing_overrides (host, verdict, reason, appeal, admin_id, updated_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (host) DO UPDATE SET verdict = excluded.verdict, reason = excluded.reason, appeal = excluded.appeal, admin_id = excluded.admin_id, updated_at = excluded.updated_at`),
			o.Host, o.Verdict, o.Reason, o.Appeal, c.AdminID, d.t(c.At))
		if err != nil {
			return err
		}
		return d.overrideAudit(ctx, tx, c, map[string]string{"host": o.Host, "verdict": o.Verdict, "reason": o.Reason})
	})
	if err != nil {
		return dbError("put phishing override", err)
	}
	return nil
}

// DeletePhishingOverride removes the override for host, audited with
// reason. ErrNotFound if there is none.
func (d *DB) DeletePhishingOverride(ctx context.Context, host, reason string, c OverrideChange) error {
	if err := checkText("reason", reason, 1, MaxPhishingReasonLen); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	err := d.tx(ctx, func(tx *sql.Tx) error {
		n, err := affected(tx.ExecContext(ctx, d.q(`DELETE FROM phishing_overrides WHERE host = ?`), host))
		if err != nil {
			return err
		}
		if n == 0 {
			return notFound("override for " + host)
		}
		return d.overrideAudit(ctx, tx, c, map[string]string{"host": host, "verdict": "", "reason": reason})
	})
	if err != nil {
		return dbError("delete phishing override", err)
	}
	return nil
}

// ListPhishingOverrides lists every override by host.
func (d *DB) ListPhishingOverrides(ctx context.Context) ([]PhishingOverride, error) {
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT host, verdict, reason, appeal, admin_id, updated_at FROM phishing_overrides ORDER BY host`))
	out, err := collect(rows, err, func(row scanner) (PhishingOverride, error) {
		var o PhishingOverride
		var at sqldb.Time
		err := row.Scan(&o.Host, &o.Verdict, &o.Reason, &o.Appeal, &o.AdminID, &at)
		o.UpdatedAt = at.Time
		return o, err
	})
	if err != nil {
		return nil, dbError("list phishing overrides", err)
	}
	return out, nil
}
