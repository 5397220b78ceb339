package authdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/netip"
	"time"

	"github.com/niomon/niomon/internal/sqldb"
)

// AuditEvent is one entry of the audit log. Detail is for facts that help
// an investigation (a credential id, a reason); callers never put secrets
// in it (codes, tokens, keys, digests of them).
type AuditEvent struct {
	ID        int64 // assigned by AppendAudit; increasing
	At        time.Time
	UserID    string // "" if none
	Event     string // [a-z0-9_.]{1,64}, e.g. "session.revoked"
	IP        netip.Addr
	RequestID string
	Detail    json.RawMessage // a JSON object, at most MaxAuditDetailLen bytes; empty means {}
}

// AppendAudit adds e (e.ID is ignored) and returns its ID. The user need
// not exist (it may have been deleted).
func (d *DB) AppendAudit(ctx context.Context, e AuditEvent) (int64, error) {
	if err := checkTime("at", e.At); err != nil {
		return 0, err
	}
	if e.UserID != "" {
		if err := checkUserID(e.UserID); err != nil {
			return 0, err
		}
	}
	if err := checkToken("event", e.Event, 1, MaxEventLen, "_."); err != nil {
		return 0, err
	}
	if err := checkText("request id", e.RequestID, 0, MaxRequestIDLen); err != nil {
		return 0, err
	}
	if err := checkAuditDetail(e.Detail); err != nil {
		return 0, err
	}
	detail := string(e.Detail)
	if detail == "" {
		detail = "{}"
	}
	var userID any
	if e.UserID != "" {
		userID = e.UserID
	}
	var id int64
	err := d.db.QueryRowContext(ctx,
		d.q(`INSERT INTO audit_log (at, user_id, event, ip, request_id, detail) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`),
		d.t(e.At), userID, e.Event, ipArg(e.IP), e.RequestID, detail,
	).Scan(&id)
	if err != nil {
		return 0, dbError("append audit event", err)
	}
	return id, nil
}

// ListAudit returns up to limit events with IDs above afterID, in ID
// order: all events if userID is "", else the user's. Pass the last ID of
// one page as afterID of the next.
func (d *DB) ListAudit(ctx context.Context, userID string, afterID int64, limit int) ([]AuditEvent, error) {
	if userID != "" {
		if err := checkUserID(userID); err != nil {
			return nil, err
		}
	}
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	query := `SELECT id, at, user_id, event, ip, request_id, detail FROM audit_log WHERE id > ?`
	args := []any{afterID}
	if userID != "" {
		query += ` AND user_id = ?`
		args = append(args, userID)
	}
	return d.queryAudit(ctx, query+` ORDER BY id LIMIT ?`, append(args, limit)...)
}

// ListRecentAudit returns the user's limit most recent events, newest
// first: what their activity list shows.
func (d *DB) ListRecentAudit(ctx context.Context, userID string, limit int) ([]AuditEvent, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	return d.queryAudit(ctx, `SELECT id, at, user_id, event, ip, request_id, detail FROM audit_log WHERE user_id = ? ORDER BY id DESC LIMIT ?`, userID, limit)
}

func (d *DB) queryAudit(ctx context.Context, query string, args ...any) ([]AuditEvent, error) {
	rows, err := d.db.QueryContext(ctx, d.q(query), args...)
	es, err := collect(rows, err, func(r scanner) (AuditEvent, error) {
		var (
			e      AuditEvent
			at     sqldb.Time
			user   sql.NullString
			detail string
		)
		err := r.Scan(&e.ID, &at, &user, &e.Event, scanIP{&e.IP}, &e.RequestID, &detail)
		e.At, e.UserID, e.Detail = at.Time, user.String, json.RawMessage(detail)
		return e, err
	})
	if err != nil {
		return nil, dbError("list audit events", err)
	}
	return es, nil
}

// DeleteAuditBefore deletes the events before before (retention) and
// returns how many.
func (d *DB) DeleteAuditBefore(ctx context.Context, before time.Time) (int64, error) {
	if err := checkTime("before", before); err != nil {
		return 0, err
	}
	n, err := affected(d.db.ExecContext(ctx, d.q(`DELETE FROM audit_log WHERE at < ?`), d.t(before)))
	if err != nil {
		return 0, dbError("delete audit events", err)
	}
	return n, nil
}
