package store

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migrations are plain SQL files named NNNN_description.sql, one directory
// per backend. They are applied in version order, each exactly once, all in
// one transaction together with their rows in schema_migrations, so a
// failed migration leaves the schema as it was. Never edit a migration that
// has been released; add the next one.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string // file name, for error messages
	sql     string
}

// loadMigrations reads the migrations of one backend and checks that their
// versions run 1, 2, 3, … without gaps or duplicates.
func loadMigrations(backend string) ([]migration, error) {
	dir := path.Join("migrations", backend)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("store: read %s migrations: %w", backend, err)
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("store: migration %s/%s: want name NNNN_description.sql", backend, name)
		}
		b, err := fs.ReadFile(migrationFiles, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("store: read migration %s/%s: %w", backend, name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("store: migration %s/%s has version %d, want %d", backend, m.name, m.version, i+1)
		}
	}
	return ms, nil
}

// pendingMigrations returns the migrations after version current. A
// database whose schema is newer than this binary knows is refused: running
// old code on it could misread or damage data written by the newer one.
func pendingMigrations(backend string, current int) ([]migration, error) {
	ms, err := loadMigrations(backend)
	if err != nil {
		return nil, err
	}
	if current > len(ms) {
		return nil, fmt.Errorf("store: database schema version %d is newer than this binary supports (%d)", current, len(ms))
	}
	return ms[current:], nil
}
