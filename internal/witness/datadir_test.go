package witness

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The witness keeps its signing key in its data directory: one that other
// users can read is refused, before any key is made there.
func TestAWitnessRefusesADataDirectoryOthersCanRead(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "witness")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), Config{Data: dir}); err == nil || !strings.Contains(err.Error(), "chmod 700 "+dir) {
		t.Fatalf("Open: %v, want a refusal with the fix", err)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFile)); !os.IsNotExist(err) {
		t.Fatalf("a key was made in the open directory: %v", err)
	}
}
