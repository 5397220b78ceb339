package web

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/evanw/esbuild/pkg/api"
)

// Bundle builds dist/app.js from src/main.js in dir (this package's
// directory, with node_modules installed by npm ci) and returns it. It
// writes nothing.
func Bundle(dir string) ([]byte, error) {
	res := api.Build(api.BuildOptions{
		EntryPoints:       []string{filepath.Join(dir, "src", "main.js")},
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
		Outfile:           "dist/app.js",
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
	for _, f := range res.OutputFiles {
		if strings.HasSuffix(f.Path, "app.js") {
			return f.Contents, nil
		}
	}
	return nil, errors.New("web: esbuild wrote no app.js")
}
