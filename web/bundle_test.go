package web

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evanw/esbuild/pkg/api"
)

// Bundle (test code only: esbuild stays out of the server binary) builds the scripts the server embeds from the sources in dir
// (this package's directory, with node_modules installed by npm ci) and
// returns them by path under dir: Ditto's dist/app.js and the chunks it
// imports when first needed (dist/chunk-HASH.js), and the demo dApp's
// demo/dist/demo.js (demo/demo.js with the SDK from sdk/js and viem). It
// writes nothing.
func Bundle(dir string) (map[string][]byte, error) {
	out := map[string][]byte{}
	common := api.BuildOptions{
		AbsWorkingDir:     dir,
		Bundle:            true,
		Format:            api.FormatESModule,
		Target:            api.ES2022,
		Platform:          api.PlatformBrowser,
		MinifyWhitespace:  true,
		MinifySyntax:      true,
		MinifyIdentifiers: true,
		LegalComments:     api.LegalCommentsEndOfFile,
		Charset:           api.CharsetUTF8,
		Write:             false,
	}
	wallet := common
	wallet.EntryPoints = []string{filepath.Join(dir, "src", "main.js")}
	wallet.Splitting = true
	wallet.Outdir = filepath.Join(dir, "dist")
	wallet.EntryNames = "app"
	wallet.ChunkNames = "chunk-[hash]"
	demo := common
	demo.EntryPoints = []string{filepath.Join(dir, "demo", "demo.js")}
	demo.Outdir = filepath.Join(dir, "demo", "dist")
	demo.EntryNames = "demo"
	for _, opts := range []api.BuildOptions{wallet, demo} {
		res := api.Build(opts)
		if len(res.Errors) > 0 {
			var msgs []string
			for _, m := range res.Errors {
				loc := ""
				if m.Location != nil {
					loc = fmt.Sprintf("%s:%d: ", m.Location.File, m.Location.Line)
				}
				msgs = append(msgs, loc+m.Text)
			}
			return nil, errors.New("web: bundling failed: " + strings.Join(msgs, "; "))
		}
		for _, f := range res.OutputFiles {
			rel, err := filepath.Rel(dir, f.Path)
			if err != nil {
				return nil, err
			}
			out[filepath.ToSlash(rel)] = f.Contents
		}
	}
	for _, want := range []string{"dist/app.js", "demo/dist/demo.js"} {
		if out[want] == nil {
			return nil, errors.New("web: esbuild wrote no " + want)
		}
	}
	return out, nil
}

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
	committedScripts := func() []string {
		var all []string
		for _, g := range []string{"dist/*.js", "demo/dist/*.js"} {
			m, err := filepath.Glob(filepath.FromSlash(g))
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, m...)
		}
		return all
	}
	if *update {
		for _, f := range committedScripts() {
			if _, keep := got[filepath.ToSlash(f)]; !keep {
				os.Remove(f)
			}
		}
		for name, b := range got {
			if err := os.MkdirAll(filepath.Dir(filepath.FromSlash(name)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.FromSlash(name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	committed := committedScripts()
	if len(committed) != len(got) {
		t.Fatalf("web/dist and web/demo/dist hold %d scripts, the sources make %d: run go test ./web -run TestBundleMatchesSources -update and commit them", len(committed), len(got))
	}
	for name, b := range got {
		want, err := os.ReadFile(filepath.FromSlash(name))
		if err != nil || !bytes.Equal(b, want) {
			t.Fatalf("web/%s does not match its sources: run go test ./web -run TestBundleMatchesSources -update and commit it", name)
		}
	}
}

func TestTheFirstLoadStaysUnder200KB(t *testing.T) {
	if n := FirstLoad(); n > 200<<10 {
		t.Fatalf("the page, its stylesheet and app.js are %d bytes; the first load must stay under 200 KB", n)
	}
	t.Logf("first load: %d bytes", FirstLoad())
}
