package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newSQLiteStorage(t *testing.T) storage {
	path := filepath.Join(t.TempDir(), "secretd.db")
	return storage{connect: func() (Store, error) {
		s, err := OpenSQLite(path)
		if err != nil {
			return nil, err // not a typed nil in a non-nil Store
		}
		return s, nil
	}}
}

func TestSQLiteConformance(t *testing.T) {
	runConformance(t, newSQLiteStorage)
}

func TestSQLiteFilesAreOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secretd.db")
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatalf("OpenSQLite: got %v, want nil", err)
	}
	defer s.Close()
	mustCreate(t, s, Object{Kind: "wallet", ID: "w", Version: 1, Blob: []byte{1}})
	// The -wal and -shm files exist while the database is open.
	for _, name := range []string{"secretd.db", "secretd.db-wal", "secretd.db-shm"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("stat %s: %v", name, err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s mode: got %#o, want 0600", name, got)
		}
	}
}

func TestSQLiteNarrowsAnExistingFileTo0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secretd.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatalf("OpenSQLite on an empty existing file: got %v, want nil", err)
	}
	defer s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Fatalf("mode: got %#o, want 0600", got)
	}
}

func TestSQLitePathMayContainURISyntax(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a?b#c%20d e&f=g")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "x?mode=ro.db")
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatalf("OpenSQLite(%q): got %v, want nil", path, err)
	}
	defer s.Close()
	mustCreate(t, s, Object{Kind: "wallet", ID: "w", Version: 1, Blob: []byte{1}})
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the given path: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "x?mode=ro.db") {
			t.Errorf("unexpected file %q beside the database", e.Name())
		}
	}
}

func TestSQLiteRelativePathIsResolvedAtOpen(t *testing.T) {
	t.Chdir(t.TempDir())
	s, err := OpenSQLite("rel.db")
	if err != nil {
		t.Fatalf("OpenSQLite(rel.db): got %v, want nil", err)
	}
	defer s.Close()
	mustCreate(t, s, Object{Kind: "wallet", ID: "w", Version: 1, Blob: []byte{1}})
	if _, err := os.Stat("rel.db"); err != nil {
		t.Fatalf("rel.db: %v", err)
	}
}

func TestSQLiteEmptyPathIsErrInvalid(t *testing.T) {
	if _, err := OpenSQLite(""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("OpenSQLite(\"\"): got %v, want ErrInvalid", err)
	}
}

func TestOpenWithoutDSNUsesSQLiteInADataDirItCreates0700(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "state", "secretd")
	s, err := Open(context.Background(), dataDir, "")
	if err != nil {
		t.Fatalf("Open: got %v, want nil", err)
	}
	defer s.Close()
	if _, ok := s.(*SQLite); !ok {
		t.Fatalf("Open without DSN: got %T, want *SQLite", s)
	}
	fi, err := os.Stat(dataDir)
	if err != nil {
		t.Fatalf("data dir: %v", err)
	}
	if got := fi.Mode().Perm(); got != 0o700 {
		t.Errorf("data dir mode: got %#o, want 0700", got)
	}
	if _, err := os.Stat(filepath.Join(dataDir, SQLiteFileName)); err != nil {
		t.Errorf("database file: got %v, want it to exist", err)
	}
}

func TestOpenWithoutDSNOrDataDirIsErrInvalid(t *testing.T) {
	if _, err := Open(context.Background(), "", ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Open(\"\", \"\"): got %v, want ErrInvalid", err)
	}
}

func TestSQLiteRefusesASchemaNewerThanItKnows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secretd.db")
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`INSERT INTO schema_migrations (set_name, version) VALUES ('store', 9999)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = OpenSQLite(path)
	if err == nil {
		s.Close()
		t.Fatalf("OpenSQLite on a newer schema: got nil, want an error")
	}
	if !strings.Contains(err.Error(), "schema version 9999 is newer") {
		t.Fatalf("got %q, want it to say the schema is newer", err)
	}
}
