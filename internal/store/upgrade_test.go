package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/niomon/niomon/internal/pgtest"
)

// preSQLDBMigrationsTable is schema_migrations as the store created it
// before it moved onto sqldb (one set, keyed by version alone).
var preSQLDBMigrationsTable = map[string]string{
	"sqlite": `CREATE TABLE schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		applied_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
	) STRICT`,
	"postgres": `CREATE TABLE schema_migrations (
		version    integer     NOT NULL PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`,
}

// writePreSQLDBDatabase lays out a database exactly as the previous
// release left it: migration 0001 applied, recorded in the old table, and
// one object stored.
func writePreSQLDBDatabase(t *testing.T, driver, dsn, backend string, o Object) {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms, err := migrations.Load(backend)
	if err != nil {
		t.Fatal(err)
	}
	q := `INSERT INTO sealed_objects (kind, id, version, blob) VALUES (?, ?, ?, ?)`
	if backend == "postgres" {
		q = `INSERT INTO sealed_objects (kind, id, version, blob) VALUES ($1, $2, $3, $4)`
	}
	for _, stmt := range []string{preSQLDBMigrationsTable[backend], ms[0].SQL, `INSERT INTO schema_migrations (version) VALUES (1)`} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if _, err := db.Exec(q, o.Kind, o.ID, int64(o.Version), o.Blob); err != nil {
		t.Fatal(err)
	}
}

// oldReleaseObject is stored by the previous release's layout.
var oldReleaseObject = Object{Kind: "wallet", ID: "from-the-old-release", Version: 3, Blob: []byte("sealed")}

func testOpensAPreSQLDBDatabase(t *testing.T, connect func() (Store, error)) {
	want := oldReleaseObject
	for i := range 2 { // the conversion, then an ordinary open
		s, err := connect()
		if err != nil {
			t.Fatalf("open %d: got %v, want nil", i, err)
		}
		mustBe(t, s, want)
		version, rows, err := s.(versioned).schemaVersion(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if latest := latestMigration(t, s); version != latest || rows != latest {
			t.Fatalf("open %d: got schema version %d in %d rows, want %d in %d", i, version, rows, latest, latest)
		}
		s.Close()
	}
}

func TestSQLiteOpensADatabaseOfThePreSQLDBRelease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secretd.db")
	writePreSQLDBDatabase(t, "sqlite", path, "sqlite", oldReleaseObject)
	testOpensAPreSQLDBDatabase(t, func() (Store, error) { return OpenSQLite(path) })
}

func TestPostgresOpensADatabaseOfThePreSQLDBRelease(t *testing.T) {
	dsn := pgtest.NewSchema(t)
	writePreSQLDBDatabase(t, "pgx", dsn, "postgres", oldReleaseObject)
	testOpensAPreSQLDBDatabase(t, func() (Store, error) { return OpenPostgres(context.Background(), dsn) })
}
