package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgresDSNEnv names the database the PostgreSQL tests use. .ci/postgres.sh
// starts a throwaway cluster and sets it. Each test works in its own schema,
// dropped afterwards, so runs never see each other's data.
const postgresDSNEnv = "NIOMON_TEST_POSTGRES_DSN"

func postgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(postgresDSNEnv)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set, but CI=true: CI must run the PostgreSQL tests (source .ci/postgres.sh && start_postgres)", postgresDSNEnv)
		}
		t.Skipf("%s is not set: skipping the PostgreSQL tests (source .ci/postgres.sh && start_postgres to run them)", postgresDSNEnv)
	}
	return dsn
}

// withSearchPath returns dsn with its search_path set to schema, for both
// URL and keyword=value connection strings.
func withSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("parse %s: %v", postgresDSNEnv, err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}

// newPostgresSchema creates an empty schema with a random name, dropped
// when t ends, and returns a DSN whose connections work in it.
func newPostgresSchema(t testing.TB) string {
	t.Helper()
	dsn := postgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to %s: %v", postgresDSNEnv, err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	schema := "niomon_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close(ctx)
		t.Fatalf("create schema: %v", err)
	}
	admin.Close(ctx)
	t.Cleanup(func() {
		// Registered before any store of the test, so it runs after they
		// are closed.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: connect: %v", schema, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(t, dsn, schema)
}

func newPostgresStorage(t *testing.T) storage {
	dsn := newPostgresSchema(t)
	return storage{connect: func() (Store, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := OpenPostgres(ctx, dsn)
		if err != nil {
			return nil, err // not a typed nil in a non-nil Store
		}
		return s, nil
	}}
}

func TestPostgresConformance(t *testing.T) {
	dsn := postgresDSN(t)
	logDatabaseCollation(t, dsn)
	runConformance(t, newPostgresStorage)
}

// logDatabaseCollation records which default collation the ordering tests
// ran under; they only prove COLLATE "C" matters when it is not C.
func logDatabaseCollation(t *testing.T, dsn string) {
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to %s: %v", postgresDSNEnv, err)
	}
	defer c.Close(ctx)
	var version, provider, collate, icu string
	err = c.QueryRow(ctx, `SELECT version(), datlocprovider::text, datcollate, COALESCE(daticulocale, '')
		FROM pg_database WHERE datname = current_database()`).Scan(&version, &provider, &collate, &icu)
	if err != nil {
		t.Logf("database collation: unknown (%v)", err)
		return
	}
	t.Logf("%s; default collation: provider %s, collate %q, icu %q", version, provider, collate, icu)
}

func TestOpenWithADSNUsesPostgres(t *testing.T) {
	dsn := newPostgresSchema(t)
	dataDir := t.TempDir()
	s, err := Open(context.Background(), dataDir, dsn)
	if err != nil {
		t.Fatalf("Open: got %v, want nil", err)
	}
	defer s.Close()
	if _, ok := s.(*Postgres); !ok {
		t.Fatalf("Open with a DSN: got %T, want *Postgres", s)
	}
	if entries, _ := os.ReadDir(dataDir); len(entries) != 0 {
		t.Fatalf("Open with a DSN wrote %d files to the data dir, want none", len(entries))
	}
}

func TestPostgresRefusesASchemaNewerThanItKnows(t *testing.T) {
	dsn := newPostgresSchema(t)
	ctx := context.Background()
	s, err := OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES (9999)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = OpenPostgres(ctx, dsn)
	if err == nil {
		s.Close()
		t.Fatalf("OpenPostgres on a newer schema: got nil, want an error")
	}
	if !strings.Contains(err.Error(), "schema version 9999 is newer") {
		t.Fatalf("got %q, want it to say the schema is newer", err)
	}
}

func TestOpenPostgresWithAMalformedDSNIsErrInvalidAndHidesThePassword(t *testing.T) {
	_, err := OpenPostgres(context.Background(), "postgres://user:hunter2@host:notaport/db")
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v, want ErrInvalid", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("got %q, want no password in the error", err)
	}
}
