package sqldb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/niomon/niomon/internal/pgtest"
)

// The docs tell operators to keep the database password out of the DSN
// (which a config file and ps show) and in PGPASSWORD or a passfile. The
// test cluster (.ci/postgres.sh) makes the role niomon_password_test give
// its password (scram-sha-256); every other role is trusted.
func TestOpen_APostgresPasswordComesFromPGPASSWORDOrAPassfileAndIsNeverShown(t *testing.T) {
	admin := pgtest.DSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	password := "pw-" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'niomon_password_test') THEN CREATE ROLE niomon_password_test LOGIN; END IF; END $$`,
		`ALTER ROLE niomon_password_test PASSWORD '` + password + `'`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User("niomon_password_test")
	dsn := u.String()
	passfile := filepath.Join(t.TempDir(), "pgpass")
	if err := os.WriteFile(passfile, []byte(u.Hostname()+":"+u.Port()+":*:niomon_password_test:"+password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noFile := filepath.Join(t.TempDir(), "none")
	cases := []struct {
		name       string
		dsn        string
		env        map[string]string
		wantOpened bool
	}{
		{"no password anywhere", dsn, map[string]string{"PGPASSWORD": "", "PGPASSFILE": noFile}, false},
		{"a wrong PGPASSWORD", dsn, map[string]string{"PGPASSWORD": "wrong-" + password, "PGPASSFILE": noFile}, false},
		{"PGPASSWORD", dsn, map[string]string{"PGPASSWORD": password, "PGPASSFILE": noFile}, true},
		{"PGPASSFILE", dsn, map[string]string{"PGPASSWORD": "", "PGPASSFILE": passfile}, true},
		{"passfile= in the DSN", dsn + "&passfile=" + url.QueryEscape(passfile), map[string]string{"PGPASSWORD": "", "PGPASSFILE": noFile}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			if v := tc.env["PGPASSWORD"]; v == "" {
				os.Unsetenv("PGPASSWORD") // an empty PGPASSWORD is not "unset" to every reader
			}
			db, err := Open(ctx, Config{PostgresDSN: tc.dsn})
			if err == nil {
				err = db.PingContext(ctx)
				db.Close()
			}
			if (err == nil) != tc.wantOpened {
				t.Fatalf("open: %v, want opened %v", err, tc.wantOpened)
			}
			if err != nil && strings.Contains(err.Error(), password) {
				t.Fatal("the error shows the password")
			}
		})
	}
}
