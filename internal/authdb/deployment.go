package authdb

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/niomon/niomon/internal/sqldb"
)

// Names of the settings every server of a deployment must share.
const (
	DeploymentSecretdClientKey = "secretd_client_key" // its public key, base64
	DeploymentSecretdCluster   = "secretd_cluster"    // the cluster identity, base64
)

// ClaimDeployment records value for name unless a server recorded one
// before, and returns what is on record (value, if this call recorded
// it) and since when. The caller compares: the first server to start
// fixes what the others must use.
func (d *DB) ClaimDeployment(ctx context.Context, name, value string, now time.Time) (recorded string, since time.Time, err error) {
	if err := checkText("deployment setting name", name, 1, 64); err != nil {
		return "", time.Time{}, err
	}
	if err := checkText("deployment setting", value, 1, 1024); err != nil {
		return "", time.Time{}, err
	}
	if err := checkTime("now", now); err != nil {
		return "", time.Time{}, err
	}
	if _, err := d.db.ExecContext(ctx, d.q(`INSERT INTO deployment (name, value, set_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`),
		name, value, d.t(now)); err != nil {
		return "", time.Time{}, dbError("record the deployment's "+name, err)
	}
	var at sqldb.Time
	if err := d.db.QueryRowContext(ctx, d.q(`SELECT value, set_at FROM deployment WHERE name = ?`), name).Scan(&recorded, &at); err != nil {
		return "", time.Time{}, dbError("read the deployment's "+name, err)
	}
	return recorded, at.Time, nil
}

// DeploymentSetting returns the value on record for name and since when,
// or "" when no server has recorded one.
func (d *DB) DeploymentSetting(ctx context.Context, name string) (value string, since time.Time, err error) {
	var at sqldb.Time
	err = d.db.QueryRowContext(ctx, d.q(`SELECT value, set_at FROM deployment WHERE name = ?`), name).Scan(&value, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, dbError("read the deployment's "+name, err)
	}
	return value, at.Time, nil
}
