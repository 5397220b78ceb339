package web

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/evanw/esbuild/pkg/api"
)

// Bundle builds dist/ from src/main.js in dir (this package's directory,
// with node_modules installed by npm ci) and returns its files by name:
// app.js, and the chunks it imports when first needed (chunk-HASH.js).
// It writes nothing.
func Bundle(dir string) (map[string][]byte, error) {
	res := api.Build(api.BuildOptions{
		EntryPoints:       []string{filepath.Join(dir, "src", "main.js")},
		AbsWorkingDir:     dir,
		Bundle:            true,
		Splitting:         true,
		Format:            api.FormatESModule,
		Target:            api.ES2022,
		Platform:          api.PlatformBrowser,
		MinifyWhitespace:  true,
		MinifySyntax:      true,
		MinifyIdentifiers: true,
		LegalComments:     api.LegalCommentsEndOfFile,
		Charset:           api.CharsetUTF8,
		Write:             false,
		Outdir:            filepath.Join(dir, "dist"),
		EntryNames:        "app",
		ChunkNames:        "chunk-[hash]",
	})
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
	out := map[string][]byte{}
	for _, f := range res.OutputFiles {
		out[filepath.Base(f.Path)] = f.Contents
	}
	if out["app.js"] == nil {
		return nil, errors.New("web: esbuild wrote no app.js")
	}
	return out, nil
}
