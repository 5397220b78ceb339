package authdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/niomon/niomon/internal/sqldb"
)

// App statuses. Only a verified app can ask users to sign; a pending one
// works for its own developer only; rejected and suspended ones for
// nobody.
const (
	AppPending   = "pending"
	AppVerified  = "verified"
	AppRejected  = "rejected"
	AppSuspended = "suspended"
)

// Limits of the app registry.
const (
	MaxAppNameLen      = 128
	MaxAppIconURLLen   = 2048
	MaxAppContactLen   = 320
	MaxAppReasonLen    = 1024
	MaxAppOriginLen    = 300
	MaxAppRedirectLen  = 2048
	MaxAppOrigins      = 16
	MaxAppRedirectURIs = 16
	MaxAppsPerOwner    = 32
	appTokenLen        = 43 // 32 bytes, unpadded base64url
)

// App is a registered app (see migrations 0006). The caller checks
// origins and redirect URIs (package apps) before storing them; the
// database holds their canonical form.
type App struct {
	ID           string
	OwnerID      string
	Name         string
	IconURL      string
	Contact      string
	Status       string
	StatusReason string
	Origins      []AppOrigin
	RedirectURIs []string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// AppOrigin is an origin of an app and the proof of its domain.
type AppOrigin struct {
	Origin     string
	Token      string    // what the developer publishes (not a secret)
	Method     string    // "dns" or "file" once proved, else ""
	VerifiedAt time.Time // zero until proved
}

// ErrTooManyApps reports an owner with MaxAppsPerOwner apps.
var ErrTooManyApps = errors.New("authdb: too many apps for one developer")

func checkApp(a *App) error {
	if err := checkUserID(a.OwnerID); err != nil {
		return err
	}
	if err := checkText("app name", a.Name, 1, MaxAppNameLen); err != nil {
		return err
	}
	if err := checkText("icon URL", a.IconURL, 0, MaxAppIconURLLen); err != nil {
		return err
	}
	if err := checkText("contact", a.Contact, 1, MaxAppContactLen); err != nil {
		return err
	}
	if len(a.Origins) == 0 || len(a.Origins) > MaxAppOrigins {
		return invalid("an app has 1..%d origins", MaxAppOrigins)
	}
	if len(a.RedirectURIs) > MaxAppRedirectURIs {
		return invalid("an app has at most %d redirect URIs", MaxAppRedirectURIs)
	}
	seen := map[string]bool{}
	for _, o := range a.Origins {
		if err := checkText("origin", o.Origin, 1, MaxAppOriginLen); err != nil {
			return err
		}
		if seen[o.Origin] {
			return invalid("origin %q is listed twice", o.Origin)
		}
		seen[o.Origin] = true
	}
	for _, u := range a.RedirectURIs {
		if err := checkText("redirect URI", u, 1, MaxAppRedirectLen); err != nil {
			return err
		}
		if seen[u] {
			return invalid("redirect URI %q is listed twice", u)
		}
		seen[u] = true
	}
	return nil
}

func newAppID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func newAppToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// CreateApp registers a as pending under a fresh id, with a fresh token
// for each origin, and returns it as stored. ErrTooManyApps if the owner
// has MaxAppsPerOwner apps; ErrNotFound if the owner does not exist.
func (d *DB) CreateApp(ctx context.Context, a App, now time.Time) (App, error) {
	if err := checkApp(&a); err != nil {
		return App{}, err
	}
	if err := checkTime("now", now); err != nil {
		return App{}, err
	}
	a.ID, a.Status, a.StatusReason = newAppID(), AppPending, ""
	a.CreatedAt, a.UpdatedAt = trunc(now), trunc(now)
	origins := make([]AppOrigin, len(a.Origins))
	for i, o := range a.Origins {
		origins[i] = AppOrigin{Origin: o.Origin, Token: newAppToken()}
	}
	// As listApps reads them back: by origin, and by URI.
	slices.SortFunc(origins, func(x, y AppOrigin) int { return strings.Compare(x.Origin, y.Origin) })
	a.Origins = origins
	a.RedirectURIs = slices.Sorted(slices.Values(a.RedirectURIs))
	err := d.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, d.q(`SELECT count(*) FROM apps WHERE owner_id = ?`), a.OwnerID).Scan(&n); err != nil {
			return err
		}
		if n >= MaxAppsPerOwner {
			return ErrTooManyApps
		}
		if _, err := tx.ExecContext(ctx, d.q(`INSERT INTO apps (id, owner_id, name, icon_url, contact, status, status_reason, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`), a.ID, a.OwnerID, a.Name, a.IconURL, a.Contact, a.Status, a.StatusReason, d.t(now), d.t(now)); err != nil {
			return err
		}
		for _, o := range a.Origins {
			if _, err := tx.ExecContext(ctx, d.q(`INSERT INTO app_origins (app_id, origin, token, method) VALUES (?, ?, ?, '')`), a.ID, o.Origin, o.Token); err != nil {
				return err
			}
		}
		for _, u := range a.RedirectURIs {
			if _, err := tx.ExecContext(ctx, d.q(`INSERT INTO app_redirect_uris (app_id, uri) VALUES (?, ?)`), a.ID, u); err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case errors.Is(err, ErrTooManyApps):
		return App{}, err
	case sqldb.IsForeignKeyViolation(err):
		return App{}, notFound("user " + a.OwnerID)
	case err != nil:
		return App{}, dbError("create app", err)
	}
	return a, nil
}

const appColumns = `id, owner_id, name, icon_url, contact, status, status_reason, created_at, updated_at`

func scanApp(row scanner) (App, error) {
	var (
		a                App
		created, updated sqldb.Time
	)
	err := row.Scan(&a.ID, &a.OwnerID, &a.Name, &a.IconURL, &a.Contact, &a.Status, &a.StatusReason, &created, &updated)
	a.CreatedAt, a.UpdatedAt = created.Time, updated.Time
	return a, err
}

// GetApp returns the app with id, with its origins and redirect URIs, or
// ErrNotFound.
func (d *DB) GetApp(ctx context.Context, id string) (App, error) {
	if err := checkFlowID(id); err != nil {
		return App{}, invalid("app id must be %d bytes of unpadded base64url", FlowIDLen)
	}
	apps, err := d.listApps(ctx, `id = ?`, id)
	if err != nil {
		return App{}, err
	}
	if len(apps) == 0 {
		return App{}, notFound("app " + id)
	}
	return apps[0], nil
}

// ListAppsByOwner returns the owner's apps, oldest first.
func (d *DB) ListAppsByOwner(ctx context.Context, ownerID string) ([]App, error) {
	if err := checkUserID(ownerID); err != nil {
		return nil, err
	}
	return d.listApps(ctx, `owner_id = ?`, ownerID)
}

// ListAppsByStatus returns the apps with a status, oldest first: the
// vetting queue is ListAppsByStatus(AppPending).
func (d *DB) ListAppsByStatus(ctx context.Context, status string) ([]App, error) {
	if err := checkAppStatus(status); err != nil {
		return nil, err
	}
	return d.listApps(ctx, `status = ?`, status)
}

func checkAppStatus(s string) error {
	switch s {
	case AppPending, AppVerified, AppRejected, AppSuspended:
		return nil
	}
	return invalid("app status %q is not pending, verified, rejected or suspended", s)
}

func (d *DB) listApps(ctx context.Context, where string, args ...any) ([]App, error) {
	var apps []App
	err := d.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, d.q(`SELECT `+appColumns+` FROM apps WHERE `+where+` ORDER BY created_at, id`), args...)
		if apps, err = collect(rows, err, scanApp); err != nil {
			return err
		}
		byID := map[string]*App{}
		for i := range apps {
			byID[apps[i].ID] = &apps[i]
		}
		if len(apps) == 0 {
			return nil
		}
		rows, err = tx.QueryContext(ctx, d.q(`SELECT o.app_id, o.origin, o.token, o.method, o.verified_at FROM app_origins o
			JOIN apps a ON a.id = o.app_id WHERE a.`+where+` ORDER BY o.app_id, o.origin`), args...)
		type origin struct {
			app string
			AppOrigin
		}
		origins, err := collect(rows, err, func(r scanner) (origin, error) {
			var (
				o  origin
				at sqldb.Time
			)
			err := r.Scan(&o.app, &o.Origin, &o.Token, &o.Method, &at)
			o.VerifiedAt = at.Time
			return o, err
		})
		if err != nil {
			return err
		}
		for _, o := range origins {
			byID[o.app].Origins = append(byID[o.app].Origins, o.AppOrigin)
		}
		rows, err = tx.QueryContext(ctx, d.q(`SELECT r.app_id, r.uri FROM app_redirect_uris r
			JOIN apps a ON a.id = r.app_id WHERE a.`+where+` ORDER BY r.app_id, r.uri`), args...)
		uris, err := collect(rows, err, func(r scanner) ([2]string, error) {
			var u [2]string
			return u, r.Scan(&u[0], &u[1])
		})
		if err != nil {
			return err
		}
		for _, u := range uris {
			byID[u[0]].RedirectURIs = append(byID[u[0]].RedirectURIs, u[1])
		}
		return nil
	})
	if err != nil {
		return nil, dbError("list apps", err)
	}
	return apps, nil
}

// VerifyAppOrigin records that origin's domain was proved by method.
// ErrNotFound if the app has no such origin.
func (d *DB) VerifyAppOrigin(ctx context.Context, appID, origin, method string, now time.Time) error {
	if err := checkFlowID(appID); err != nil {
		return invalid("app id must be %d bytes of unpadded base64url", FlowIDLen)
	}
	if method != "dns" && method != "file" {
		return invalid("verification method %q is not dns or file", method)
	}
	if err := checkTime("now", now); err != nil {
		return err
	}
	res, err := d.db.ExecContext(ctx, d.q(`UPDATE app_origins SET method = ?, verified_at = ? WHERE app_id = ? AND origin = ?`), method, d.t(now), appID, origin)
	if err != nil {
		return dbError("verify app origin", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return notFound("origin " + origin + " of app " + appID)
	}
	return nil
}

// Vetting is an administrator's decision about an app.
type Vetting struct {
	AppID     string
	Status    string
	Reason    string // required: it is shown to the developer and kept
	AdminID   string // the administrator's user id
	IP        netip.Addr
	RequestID string
	At        time.Time
}

// SetAppStatus records a vetting decision: the app's status and reason,
// and the audit event "app.vetted" naming the app, the old and new
// status and the reason, in one transaction. ErrNotFound if there is no
// such app.
func (d *DB) SetAppStatus(ctx context.Context, v Vetting) error {
	if err := checkFlowID(v.AppID); err != nil {
		return invalid("app id must be %d bytes of unpadded base64url", FlowIDLen)
	}
	if err := checkAppStatus(v.Status); err != nil {
		return err
	}
	if err := checkText("reason", v.Reason, 1, MaxAppReasonLen); err != nil {
		return err
	}
	if err := checkUserID(v.AdminID); err != nil {
		return err
	}
	if err := checkTime("at", v.At); err != nil {
		return err
	}
	if err := checkText("request id", v.RequestID, 0, MaxRequestIDLen); err != nil {
		return err
	}
	err := d.tx(ctx, func(tx *sql.Tx) error {
		var old string
		if err := tx.QueryRowContext(ctx, d.q(`SELECT status FROM apps WHERE id = ?`), v.AppID).Scan(&old); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, d.q(`UPDATE apps SET status = ?, status_reason = ?, updated_at = ? WHERE id = ?`), v.Status, v.Reason, d.t(v.At), v.AppID); err != nil {
			return err
		}
		detail, err := json.Marshal(map[string]string{"app": v.AppID, "from": old, "to": v.Status, "reason": v.Reason})
		if err != nil {
			return err
		}
		if err := checkAuditDetail(detail); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, d.q(`INSERT INTO audit_log (at, user_id, event, ip, request_id, detail) VALUES (?, ?, ?, ?, ?, ?)`),
			d.t(v.At), v.AdminID, "app.vetted", ipArg(v.IP), v.RequestID, string(detail))
		return err
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return notFound("app " + v.AppID)
	case errors.Is(err, ErrInvalid):
		return err
	case err != nil:
		return dbError("set app status", err)
	}
	return nil
}
