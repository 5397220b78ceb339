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
		old, _ := filepath.Glob(filepath.Join("dist", "*.js"))
		for _, f := range old {
			if _, keep := got[filepath.Base(f)]; !keep {
				os.Remove(f)
			}
		}
		for name, b := range got {
			if err := os.WriteFile(filepath.Join("dist", name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	committed, err := filepath.Glob(filepath.Join("dist", "*.js"))
	if err != nil {
		t.Fatal(err)
	}
	if len(committed) != len(got) {
		t.Fatalf("web/dist holds %d scripts, the sources make %d: run go test ./web -run TestBundleMatchesSources -update and commit dist", len(committed), len(got))
	}
	for name, b := range got {
		want, err := os.ReadFile(filepath.Join("dist", name))
		if err != nil || !bytes.Equal(b, want) {
			t.Fatalf("web/dist/%s does not match web/src: run go test ./web -run TestBundleMatchesSources -update and commit dist", name)
		}
	}
}

func TestTheFirstLoadStaysUnder200KB(t *testing.T) {
	if n := FirstLoad(); n > 200<<10 {
		t.Fatalf("the page, its stylesheet and app.js are %d bytes; the first load must stay under 200 KB", n)
	}
	t.Logf("first load: %d bytes", FirstLoad())
}
