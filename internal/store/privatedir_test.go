package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrivateDir_MakesOrKeepsAPrivateDirectoryAndRefusesAnOpenOne(t *testing.T) {
	cases := []struct {
		name    string
		prepare func(path string) error
		mode    os.FileMode // set after prepare (Mkdir's goes through the umask); 0: none
		want    string      // "" for success; else words of the refusal
	}{
		{"a new directory", func(string) error { return nil }, 0, ""},
		{"an existing private one", func(p string) error { return os.Mkdir(p, 0o700) }, 0o700, ""},
		{"an existing one others can enter", func(p string) error { return os.Mkdir(p, 0o700) }, 0o755, "chmod 700"},
		{"an existing one others can write", func(p string) error { return os.Mkdir(p, 0o700) }, 0o703, "mode 0703"},
		{"a file", func(p string) error { return os.WriteFile(p, nil, 0o600) }, 0, "not a directory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "data")
			if err := tc.prepare(p); err != nil {
				t.Fatal(err)
			}
			if tc.mode != 0 {
				if err := os.Chmod(p, tc.mode); err != nil {
					t.Fatal(err)
				}
			}
			err := PrivateDir(p)
			if tc.want == "" {
				fi, serr := os.Stat(p)
				if err != nil || serr != nil || fi.Mode().Perm() != 0o700 {
					t.Fatalf("PrivateDir: %v; the directory: %v %v, want mode 0700", err, fi, serr)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("PrivateDir: %v, want a refusal naming %s and %q", err, p, tc.want)
			}
		})
	}
}

func TestOpen_RefusesADataDirectoryOthersCanRead(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), dir, ""); err == nil || !strings.Contains(err.Error(), "chmod 700 "+dir) {
		t.Fatalf("Open: %v, want a refusal with the fix", err)
	}
	if _, err := os.Stat(filepath.Join(dir, SQLiteFileName)); !os.IsNotExist(err) {
		t.Fatalf("Open made the database in the open directory: %v", err)
	}
}
