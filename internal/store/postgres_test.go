package store

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/niomon/niomon/internal/pgtest"
)

func newPostgresStorage(t *testing.T) storage {
	dsn := pgtest.NewSchema(t)
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
	dsn := pgtest.DSN(t)
	logDatabaseCollation(t, dsn)
	runConformance(t, newPostgresStorage)
}

// logDatabaseCollation records which default collation the ordering tests
// ran under; they only prove COLLATE "C" matters when it is not C.
func logDatabaseCollation(t *testing.T, dsn string) {
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to %s: %v", pgtest.DSNEnv, err)
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
	dsn := pgtest.NewSchema(t)
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
	dsn := pgtest.NewSchema(t)
	ctx := context.Background()
	s, err := OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO schema_migrations (set_name, version) VALUES ('store', 9999)`); err != nil {
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
