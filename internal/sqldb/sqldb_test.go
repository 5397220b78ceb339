package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/niomon/niomon/internal/pgtest"
)

// database is one empty database of one backend; each open returns a new
// handle to it, closed when the test ends.
type database struct {
	name string
	open func(t *testing.T) *DB
}

func sqliteDatabase(t *testing.T) database {
	path := filepath.Join(t.TempDir(), "test.db")
	return database{SQLite, func(t *testing.T) *DB { return mustOpen(t, Config{SQLitePath: path}) }}
}

func postgresDatabase(t *testing.T) database {
	dsn := pgtest.NewSchema(t)
	return database{Postgres, func(t *testing.T) *DB { return mustOpen(t, Config{PostgresDSN: dsn}) }}
}

func mustOpen(t *testing.T, cfg Config) *DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: got %v, want nil", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// onBothBackends runs test against a fresh SQLite file and a fresh
// PostgreSQL schema (skipped without pgtest's DSN).
func onBothBackends(t *testing.T, test func(t *testing.T, d database)) {
	t.Run("SQLite", func(t *testing.T) { test(t, sqliteDatabase(t)) })
	t.Run("Postgres", func(t *testing.T) { test(t, postgresDatabase(t)) })
}

func TestPlaceholdersAreNumberedForPostgresOnly(t *testing.T) {
	tests := []struct {
		name, query, want string
	}{
		{"None", `SELECT 1`, `SELECT 1`},
		{"InOrder", `SELECT a FROM t WHERE b = ? AND c = ?`, `SELECT a FROM t WHERE b = $1 AND c = $2`},
		{"MoreThanNine", strings.Repeat("?,", 10) + "?", "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11"},
		{"AdjacentToText", `VALUES (?,?)`, `VALUES ($1,$2)`},
		{"NotInAStringLiteral", `SELECT '?', ? WHERE x = 'a?b'`, `SELECT '?', $1 WHERE x = 'a?b'`},
		{"NotInALiteralWithADoubledQuote", `SELECT 'it''s ?', ?`, `SELECT 'it''s ?', $1`},
		{"NotInAQuotedIdentifier", `SELECT "what?" FROM t WHERE a = ?`, `SELECT "what?" FROM t WHERE a = $1`},
		{"NotInALineComment", "SELECT ? -- why?\n, ?", "SELECT $1 -- why?\n, $2"},
		{"NotInABlockComment", `SELECT /* ? */ ?`, `SELECT /* ? */ $1`},
		{"UnterminatedLiteralIsCopied", `SELECT ?, 'x?`, `SELECT $1, 'x?`},
		{"UnterminatedCommentIsCopied", `SELECT ? /* ?`, `SELECT $1 /* ?`},
		{"MultibyteText", `SELECT 'é?', ? -- ü`, `SELECT 'é?', $1 -- ü`},
	}
	pg := &DB{d: postgresDialect}
	lite := &DB{d: sqliteDialect}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := pg.Q(tc.query); got != tc.want {
				t.Errorf("postgres Q(%q): got %q, want %q", tc.query, got, tc.want)
			}
			if got := lite.Q(tc.query); got != tc.query {
				t.Errorf("sqlite Q(%q): got %q, want it unchanged", tc.query, got)
			}
		})
	}
}

var (
	dollarN       = regexp.MustCompile(`\$[0-9]+`)
	questionDigit = regexp.MustCompile(`\?[0-9]`)
)

// FuzzPlaceholders checks numberPlaceholders against its specification
// from the other side: on input without '$' (and without ?NNN, which Q
// does not support), turning every $N back into ? gives the input again,
// and the Ns count 1, 2, 3, … in order.
func FuzzPlaceholders(f *testing.F) {
	for _, s := range []string{"", "?", "SELECT ? FROM t WHERE a = ?", "'?' ? \"?\" -- ?\n ? /* ? */ ?", "'", "/*", "--", "'?''?'?"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		if strings.ContainsRune(q, '$') || questionDigit.MatchString(q) {
			return
		}
		got := numberPlaceholders(q)
		if back := dollarN.ReplaceAllString(got, "?"); back != q {
			t.Fatalf("numberPlaceholders(%q) = %q; with $N back to ?: got %q, want the input", q, got, back)
		}
		for i, m := range dollarN.FindAllString(got, -1) {
			if n, _ := strconv.Atoi(m[1:]); n != i+1 {
				t.Fatalf("numberPlaceholders(%q) = %q: placeholder %d is %s, want $%d", q, got, i, m, i+1)
			}
		}
	})
}

func TestOpenRefusesAConfigWithoutExactlyOneBackend(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"Neither", Config{}},
		{"Both", Config{SQLitePath: filepath.Join(t.TempDir(), "x.db"), PostgresDSN: "postgres://localhost/x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := Open(context.Background(), tc.cfg)
			if !errors.Is(err, ErrConfig) {
				if db != nil {
					db.Close()
				}
				t.Fatalf("Open(%+v): got %v, want ErrConfig", tc.cfg, err)
			}
		})
	}
}

func TestOpenWithAMalformedDSNIsErrConfigAndHidesThePassword(t *testing.T) {
	_, err := Open(context.Background(), Config{PostgresDSN: "postgres://user:hunter2@host:notaport/db"})
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("got %v, want ErrConfig", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("got %q, want no password in the error", err)
	}
}

func TestNameIsTheDialect(t *testing.T) {
	onBothBackends(t, func(t *testing.T, d database) {
		if got := d.open(t).Name(); got != d.name {
			t.Fatalf("Name: got %q, want %q", got, d.name)
		}
	})
}

// set builds a migration set from file name → SQL, for both dialects.
func set(name string, files map[string]string) MigrationSet {
	fsys := fstest.MapFS{}
	for f, sql := range files {
		for _, dialect := range []string{SQLite, Postgres} {
			fsys["m/"+dialect+"/"+f] = &fstest.MapFile{Data: []byte(sql)}
		}
	}
	return MigrationSet{Name: name, FS: fsys, Dir: "m"}
}

func mustMigrate(t *testing.T, db *DB, s MigrationSet) {
	t.Helper()
	if err := db.Migrate(context.Background(), s); err != nil {
		t.Fatalf("Migrate(%s): got %v, want nil", s.Name, err)
	}
}

func wantVersion(t *testing.T, db *DB, set string, want int) {
	t.Helper()
	got, err := db.SchemaVersion(context.Background(), set)
	if err != nil {
		t.Fatalf("SchemaVersion(%s): %v", set, err)
	}
	if got != want {
		t.Fatalf("SchemaVersion(%s): got %d, want %d", set, got, want)
	}
}

func count(t *testing.T, db *DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(db.Q(query), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestMigrationSetsLiveSideBySide(t *testing.T) {
	onBothBackends(t, func(t *testing.T, d database) {
		db := d.open(t)
		a1 := set("alpha", map[string]string{"0001_a.sql": `CREATE TABLE a (x integer)`})
		b2 := set("beta", map[string]string{
			"0001_b.sql": `CREATE TABLE b (x integer)`,
			"0002_b.sql": `INSERT INTO b (x) VALUES (42)`,
		})
		mustMigrate(t, db, a1)
		mustMigrate(t, db, b2)
		wantVersion(t, db, "alpha", 1)
		wantVersion(t, db, "beta", 2)

		// A new release adds alpha's second migration: only it runs.
		a2 := set("alpha", map[string]string{
			"0001_a.sql": `CREATE TABLE a (x integer)`,
			"0002_a.sql": `INSERT INTO a (x) VALUES (7)`,
		})
		mustMigrate(t, db, a2)
		mustMigrate(t, db, b2)
		wantVersion(t, db, "alpha", 2)
		wantVersion(t, db, "beta", 2)
		if n := count(t, db, `SELECT COUNT(*) FROM b`); n != 1 {
			t.Fatalf("rows in b: got %d, want 1 (beta's 0002 ran once)", n)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM a`); n != 1 {
			t.Fatalf("rows in a: got %d, want 1", n)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM schema_migrations`); n != 4 {
			t.Fatalf("schema_migrations rows: got %d, want 4", n)
		}
		wantVersion(t, db, "gamma", 0)
	})
}

func TestMigrateIsIdempotentAcrossHandles(t *testing.T) {
	onBothBackends(t, func(t *testing.T, d database) {
		s := set("alpha", map[string]string{
			"0001_a.sql": `CREATE TABLE a (x integer)`,
			"0002_a.sql": `INSERT INTO a (x) VALUES (1)`,
		})
		for i := range 3 {
			db := d.open(t)
			mustMigrate(t, db, s)
			mustMigrate(t, db, s)
			wantVersion(t, db, "alpha", 2)
			if n := count(t, db, `SELECT COUNT(*) FROM a`); n != 1 {
				t.Fatalf("handle %d: rows in a: got %d, want 1", i, n)
			}
		}
	})
}

func TestConcurrentMigratorsApplyEachMigrationOnce(t *testing.T) {
	onBothBackends(t, func(t *testing.T, d database) {
		s := set("alpha", map[string]string{
			"0001_a.sql": `CREATE TABLE a (x integer)`,
			"0002_a.sql": `INSERT INTO a (x) VALUES (1)`,
		})
		const n = 8
		dbs := make([]*DB, n)
		for i := range dbs {
			dbs[i] = d.open(t)
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = dbs[i].Migrate(context.Background(), s)
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("migrator %d: got %v, want nil", i, err)
			}
		}
		if n := count(t, dbs[0], `SELECT COUNT(*) FROM a`); n != 1 {
			t.Fatalf("rows in a: got %d, want 1", n)
		}
		wantVersion(t, dbs[0], "alpha", 2)
	})
}

func TestMigrateRefusesASchemaNewerThanTheSet(t *testing.T) {
	onBothBackends(t, func(t *testing.T, d database) {
		db := d.open(t)
		s := set("alpha", map[string]string{"0001_a.sql": `CREATE TABLE a (x integer)`})
		other := set("beta", map[string]string{"0001_b.sql": `CREATE TABLE b (x integer)`})
		mustMigrate(t, db, s)
		mustMigrate(t, db, other)
		if _, err := db.Exec(db.Q(`INSERT INTO schema_migrations (set_name, version) VALUES (?, ?)`), "alpha", 2); err != nil {
			t.Fatal(err)
		}
		err := db.Migrate(context.Background(), s)
		if err == nil || !strings.Contains(err.Error(), "schema version 2 is newer than this binary supports (1)") {
			t.Fatalf("Migrate(alpha) at version 2 of 1: got %v, want a refusal naming both versions", err)
		}
		// The other set is unaffected.
		mustMigrate(t, db, other)
	})
}

func TestAFailingMigrationChangesNothing(t *testing.T) {
	onBothBackends(t, func(t *testing.T, d database) {
		db := d.open(t)
		bad := set("alpha", map[string]string{
			"0001_a.sql": `CREATE TABLE a (x integer)`,
			"0002_a.sql": `INSERT INTO a (x) VALUES (1)`,
			"0003_a.sql": `THIS IS NOT SQL`,
		})
		err := db.Migrate(context.Background(), bad)
		if err == nil || !strings.Contains(err.Error(), "0003_a.sql") {
			t.Fatalf("Migrate: got %v, want an error naming 0003_a.sql", err)
		}
		wantVersion(t, db, "alpha", 0)
		if _, err := db.Exec(`SELECT COUNT(*) FROM a`); err == nil {
			t.Fatalf("table a exists after a failed migration, want it rolled back")
		}
	})
}

func TestLoadRefusesMalformedSets(t *testing.T) {
	tests := []struct {
		name  string
		set   MigrationSet
		msg   string
		files []string
	}{
		{"Gap", MigrationSet{Name: "s"}, "has version 3, want 2", []string{"0001_a.sql", "0003_c.sql"}},
		{"Duplicate", MigrationSet{Name: "s"}, "want 2", []string{"0001_a.sql", "0001_b.sql"}},
		{"StartsAtTwo", MigrationSet{Name: "s"}, "has version 2, want 1", []string{"0002_a.sql"}},
		{"NoNumber", MigrationSet{Name: "s"}, "want name NNNN_description.sql", []string{"init.sql"}},
		{"NotSQL", MigrationSet{Name: "s"}, "want name NNNN_description.sql", []string{"0001_a.txt"}},
		{"VersionZero", MigrationSet{Name: "s"}, "want name NNNN_description.sql", []string{"0000_a.sql"}},
		{"EmptySetName", MigrationSet{Name: ""}, "set name is 0 bytes, want 1..32", []string{"0001_a.sql"}},
		{"LongSetName", MigrationSet{Name: strings.Repeat("s", 33)}, "set name is 33 bytes, want 1..32", []string{"0001_a.sql"}},
		{"UppercaseSetName", MigrationSet{Name: "Store"}, "[a-z0-9_]", []string{"0001_a.sql"}},
		{"QuoteInSetName", MigrationSet{Name: "a'b"}, "[a-z0-9_]", []string{"0001_a.sql"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range tc.files {
				fsys["m/sqlite/"+f] = &fstest.MapFile{Data: []byte("SELECT 1")}
			}
			s := tc.set
			s.FS, s.Dir = fsys, "m"
			_, err := s.Load(SQLite)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Load: got %v, want an error containing %q", err, tc.msg)
			}
		})
	}
	t.Run("MissingDialectDirectory", func(t *testing.T) {
		s := MigrationSet{Name: "s", FS: fstest.MapFS{"m/sqlite/0001_a.sql": {}}, Dir: "m"}
		if _, err := s.Load(Postgres); err == nil {
			t.Fatalf("Load(postgres) with only sqlite files: got nil, want an error")
		}
	})
}

// legacyTable is schema_migrations as internal/store created it before
// sqldb, per dialect.
var legacyTable = map[string]string{
	SQLite: `CREATE TABLE schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		applied_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
	) STRICT`,
	Postgres: `CREATE TABLE schema_migrations (
		version    integer     NOT NULL PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`,
}

func TestALegacyMigrationsTableIsConvertedForTheLegacySetOnly(t *testing.T) {
	onBothBackends(t, func(t *testing.T, d database) {
		db := d.open(t)
		for _, q := range []string{
			legacyTable[d.name],
			`CREATE TABLE a (x integer)`,
			`INSERT INTO schema_migrations (version) VALUES (1)`,
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		other := set("beta", map[string]string{"0001_b.sql": `CREATE TABLE b (x integer)`})
		err := db.Migrate(context.Background(), other)
		if err == nil || !strings.Contains(err.Error(), "single-set layout") {
			t.Fatalf("Migrate(beta) on a legacy table: got %v, want a refusal", err)
		}

		legacy := set("alpha", map[string]string{
			"0001_a.sql": `CREATE TABLE a (x integer)`, // already applied: must not run again
			"0002_a.sql": `INSERT INTO a (x) VALUES (2)`,
		})
		legacy.Legacy = true
		mustMigrate(t, db, legacy)
		wantVersion(t, db, "alpha", 2)
		if n := count(t, db, `SELECT COUNT(*) FROM schema_migrations WHERE set_name = 'alpha' AND applied_at IS NOT NULL`); n != 2 {
			t.Fatalf("alpha rows: got %d, want 2", n)
		}
		mustMigrate(t, db, other)
		mustMigrate(t, db, legacy)
		wantVersion(t, db, "beta", 1)
	})
}

// errRetry is a PostgreSQL serialization failure, which IsRetryable
// accepts whatever the backend: Tx's loop can be tested on both.
var errRetry = &pgconn.PgError{Code: "40001", Message: "could not serialize access"}

var errSentinel = errors.New("the caller's own error")

func TestTx(t *testing.T) {
	onBothBackends(t, func(t *testing.T, d database) {
		db := d.open(t)
		if _, err := db.Exec(`CREATE TABLE c (k text PRIMARY KEY, n integer NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		insert := func(tx *sql.Tx, k string) error {
			_, err := tx.Exec(db.Q(`INSERT INTO c (k, n) VALUES (?, 1)`), k)
			return err
		}
		exists := func(k string) bool {
			return count(t, db, `SELECT COUNT(*) FROM c WHERE k = ?`, k) == 1
		}
		tests := []struct {
			name      string
			failures  int   // retryable failures before fn succeeds
			fail      error // returned by fn after inserting, on every call
			wantCalls int
			wantErr   error // nil: commits
			wantSaved bool
		}{
			{"CommitsWhenFnSucceeds", 0, nil, 1, nil, true},
			{"RollsBackAndReturnsFnsErrorAsIs", 0, errSentinel, 1, errSentinel, false},
			{"RetriesARetryableError", 2, nil, 3, nil, true},
			{"RetriesUpToTheLastTry", MaxTxTries - 1, nil, MaxTxTries, nil, true},
			{"GivesUpAfterMaxTxTries", MaxTxTries, nil, MaxTxTries, errRetry, false},
			{"DoesNotRetryOtherErrors", 0, fmt.Errorf("wrapped: %w", errSentinel), 1, errSentinel, false},
		}
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				key := strconv.Itoa(i)
				calls := 0
				err := db.Tx(ctx, func(tx *sql.Tx) error {
					calls++
					if err := insert(tx, key); err != nil {
						return err
					}
					if calls <= tc.failures {
						return fmt.Errorf("attempt %d: %w", calls, errRetry)
					}
					return tc.fail
				})
				if calls != tc.wantCalls {
					t.Errorf("fn calls: got %d, want %d", calls, tc.wantCalls)
				}
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("Tx: got %v, want %v", err, tc.wantErr)
				}
				if tc.wantErr == errSentinel && tc.fail == errSentinel && err != errSentinel {
					t.Errorf("Tx: got %v, want fn's error itself, unwrapped", err)
				}
				if got := exists(key); got != tc.wantSaved {
					t.Errorf("row written: got %v, want %v", got, tc.wantSaved)
				}
			})
		}
		t.Run("StopsRetryingWhenTheContextEnds", func(t *testing.T) {
			ctx, cancel := context.WithCancel(ctx)
			calls := 0
			err := db.Tx(ctx, func(tx *sql.Tx) error {
				calls++
				cancel()
				return errRetry
			})
			if calls != 1 || !errors.Is(err, context.Canceled) {
				t.Fatalf("Tx with a context cancelled in fn: got %d calls and %v, want 1 call and context.Canceled", calls, err)
			}
		})
		t.Run("RollsBackOnPanic", func(t *testing.T) {
			func() {
				defer func() { recover() }()
				db.Tx(ctx, func(tx *sql.Tx) error {
					insert(tx, "panic")
					panic("boom")
				})
			}()
			if exists("panic") {
				t.Fatalf("row written by a panicking fn: got it stored, want it rolled back")
			}
			// And the database is still usable (the connection was released).
			if err := db.Tx(ctx, func(tx *sql.Tx) error { return insert(tx, "after-panic") }); err != nil {
				t.Fatalf("Tx after a panic: got %v, want nil", err)
			}
		})
	})
}

// TestTxRetriesARealSerializationFailure makes two SERIALIZABLE
// transactions read a counter before either writes it, so PostgreSQL must
// fail one; Tx reruns it and both increments land.
func TestTxRetriesARealSerializationFailure(t *testing.T) {
	db := postgresDatabase(t).open(t)
	ctx := context.Background()
	if _, err := db.Exec(`CREATE TABLE counter (id integer PRIMARY KEY, n integer NOT NULL); INSERT INTO counter VALUES (1, 0)`); err != nil {
		t.Fatal(err)
	}
	var (
		wg       sync.WaitGroup
		read     sync.WaitGroup // both have read once
		calls    atomic.Int32
		failures atomic.Int32
		errs     [2]error
	)
	read.Add(2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			errs[i] = db.Tx(ctx, func(tx *sql.Tx) error {
				calls.Add(1)
				if _, err := tx.Exec(`SET TRANSACTION ISOLATION LEVEL SERIALIZABLE`); err != nil {
					return err
				}
				var n int
				if err := tx.QueryRow(`SELECT n FROM counter WHERE id = 1`).Scan(&n); err != nil {
					return err
				}
				if first {
					first = false
					read.Done()
					read.Wait()
				}
				_, err := tx.Exec(db.Q(`UPDATE counter SET n = ? WHERE id = 1`), n+1)
				if IsRetryable(err) {
					failures.Add(1)
				}
				return err
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("transaction %d: got %v, want nil", i, err)
		}
	}
	if n := count(t, db, `SELECT n FROM counter WHERE id = 1`); n != 2 {
		t.Fatalf("counter: got %d, want 2 (no lost update)", n)
	}
	if calls.Load() < 3 {
		t.Fatalf("fn calls: got %d, want at least 3 (one transaction retried; %d serialization failures seen in fn)", calls.Load(), failures.Load())
	}
}

// TestSQLiteBusyIsRetryable holds the write lock on one connection and
// asks for it on another that does not wait.
func TestSQLiteBusyIsRetryable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "busy.db")
	db := mustOpen(t, Config{SQLitePath: path})
	if _, err := db.Exec(`CREATE TABLE t (x integer)`); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin() // BEGIN IMMEDIATE: holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	impatient, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate&_busy_timeout=0")
	if err != nil {
		t.Fatal(err)
	}
	defer impatient.Close()
	_, err = impatient.Begin()
	if err == nil {
		t.Fatalf("second writer: got the lock, want SQLITE_BUSY")
	}
	if !IsRetryable(err) {
		t.Fatalf("IsRetryable(%v): got false, want true", err)
	}
	if IsUniqueViolation(err) || IsForeignKeyViolation(err) {
		t.Fatalf("BUSY classified as a constraint violation: %v", err)
	}
}

func TestConstraintErrorsAreClassified(t *testing.T) {
	onBothBackends(t, func(t *testing.T, d database) {
		db := d.open(t)
		for _, q := range []string{
			`CREATE TABLE p (id integer PRIMARY KEY, u text UNIQUE)`,
			`CREATE TABLE c (p integer NOT NULL REFERENCES p (id))`,
			`INSERT INTO p (id, u) VALUES (1, 'x')`,
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		tests := []struct {
			name       string
			query      string
			unique, fk bool
		}{
			{"DuplicatePrimaryKey", `INSERT INTO p (id, u) VALUES (1, 'y')`, true, false},
			{"DuplicateUniqueColumn", `INSERT INTO p (id, u) VALUES (2, 'x')`, true, false},
			{"MissingReference", `INSERT INTO c (p) VALUES (99)`, false, true},
			{"NotNull", `INSERT INTO c (p) VALUES (NULL)`, false, false},
			{"SyntaxError", `INSERT INTO`, false, false},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := db.Exec(tc.query)
				if err == nil {
					t.Fatalf("%s: got nil, want an error", tc.query)
				}
				if got := IsUniqueViolation(err); got != tc.unique {
					t.Errorf("IsUniqueViolation(%v): got %v, want %v", err, got, tc.unique)
				}
				if got := IsForeignKeyViolation(err); got != tc.fk {
					t.Errorf("IsForeignKeyViolation(%v): got %v, want %v", err, got, tc.fk)
				}
				if IsRetryable(err) {
					t.Errorf("IsRetryable(%v): got true, want false", err)
				}
			})
		}
	})
	for _, err := range []error{nil, errSentinel, sql.ErrNoRows, context.Canceled} {
		if IsUniqueViolation(err) || IsForeignKeyViolation(err) || IsRetryable(err) {
			t.Errorf("%v: classified as a database error, want none", err)
		}
	}
}

func TestTimesRoundTripAndCompareInSQL(t *testing.T) {
	onBothBackends(t, func(t *testing.T, d database) {
		db := d.open(t)
		typ := map[string]string{SQLite: "TEXT", Postgres: "timestamptz"}[d.name]
		if _, err := db.Exec(`CREATE TABLE ts (id integer PRIMARY KEY, at ` + typ + `)`); err != nil {
			t.Fatal(err)
		}
		base := time.Date(2026, 3, 4, 5, 6, 7, 891_234_567, time.FixedZone("X", 3600))
		times := []time.Time{
			base,
			base.Add(time.Millisecond),
			base.Add(500 * time.Microsecond), // same millisecond as base
			time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC),
			time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC),
			{}, // NULL
		}
		for i, at := range times {
			if _, err := db.Exec(db.Q(`INSERT INTO ts (id, at) VALUES (?, ?)`), i, db.Time(at)); err != nil {
				t.Fatalf("insert %v: %v", at, err)
			}
		}
		for i, at := range times {
			var got Time
			if err := db.QueryRow(db.Q(`SELECT at FROM ts WHERE id = ?`), i).Scan(&got); err != nil {
				t.Fatalf("scan %v: %v", at, err)
			}
			want := at
			if !at.IsZero() {
				want = at.UTC().Truncate(TimePrecision)
			}
			if !got.Time.Equal(want) || got.Location() != time.UTC {
				t.Errorf("row %d: got %v, want %v in UTC", i, got.Time, want)
			}
		}
		// Comparisons in SQL follow time order.
		if n := count(t, db, `SELECT COUNT(*) FROM ts WHERE at > ?`, db.Time(base)); n != 2 {
			t.Errorf("rows after base: got %d, want 2", n)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM ts WHERE at <= ?`, db.Time(base.Add(700*time.Microsecond))); n != 3 {
			t.Errorf("rows at or before base+0.7ms: got %d, want 3", n)
		}
		// The database's own clock is comparable with times from Go.
		if n := count(t, db, `SELECT COUNT(*) FROM ts WHERE at < `+db.Now()); n != 4 {
			t.Errorf("rows before Now(): got %d, want 4", n)
		}
	})
}

func TestTimeScanRefusesOtherForms(t *testing.T) {
	for _, src := range []any{"2026-01-02 03:04:05", "2026-01-02T03:04:05Z", int64(1), 1.5, true} {
		var tm Time
		if err := tm.Scan(src); err == nil {
			t.Errorf("Scan(%#v): got %v, want an error", src, tm.Time)
		}
	}
}
