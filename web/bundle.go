package web

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/evanw/esbuild/pkg/api"
)

// Bundle builds the scripts the server embeds from the sources in dir
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
