// Package pgtest gives tests a PostgreSQL schema of their own in the
// throwaway cluster .ci/postgres.sh starts.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DSNEnv names the database the PostgreSQL tests use. .ci/postgres.sh
// starts a throwaway cluster and sets it. Each test works in its own schema,
// dropped afterwards, so runs never see each other's data.
const DSNEnv = "NIOMON_TEST_POSTGRES_DSN"

// DSN returns the test database's DSN, skipping the test when none is
// set (failing it under CI=true).
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(DSNEnv)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set, but CI=true: CI must run the PostgreSQL tests (source .ci/postgres.sh && start_postgres)", DSNEnv)
		}
		t.Skipf("%s is not set: skipping the PostgreSQL tests (source .ci/postgres.sh && start_postgres to run them)", DSNEnv)
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
			t.Fatalf("parse %s: %v", DSNEnv, err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}

// NewSchema creates an empty schema with a random name, dropped
// when t ends, and returns a DSN whose connections work in it.
func NewSchema(t testing.TB) string {
	t.Helper()
	dsn := DSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to %s: %v", DSNEnv, err)
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
