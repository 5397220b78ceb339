package web

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "write dist/app.js from src/")

// TestBundleMatchesSources rebuilds the bundle and compares it with the
// committed one, so what the server embeds is what src/ says. It needs
// node_modules (npm ci in web/); .ci/run installs them, and on CI a
// missing install is a failure, not a skip.
func TestBundleMatchesSources(t *testing.T) {
	if _, err := os.Stat(filepath.Join("node_modules", "cborg")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("web/node_modules is missing: .ci/run must run npm ci in web/")
		}
		t.Skip("web/node_modules is missing: run npm ci in web/ to check the bundle")
	}
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Bundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(filepath.Join("dist", "app.js"), got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(filepath.Join("dist", "app.js"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("web/dist/app.js does not match web/src: run go test ./web -run TestBundleMatchesSources -update and commit it")
	}
}

func TestTheFirstLoadStaysUnder200KB(t *testing.T) {
	total := len(Page().Body)
	for _, a := range Assets() {
		total += len(a.Body)
	}
	if total > 200<<10 {
		t.Fatalf("the page and its assets are %d bytes; the first load must stay under 200 KB", total)
	}
}
