// Package web holds Ditto, the web wallet, as the niomon server serves
// it: the page and its stylesheet (static/) and the script bundled from
// src/ (dist/app.js). The bundle is committed, so the server builds with
// Go alone; TestBundleMatchesSources rebuilds it with esbuild's Go API
// and fails when it differs (run it with -update to write it).
package web

import (
	"embed"
	"io/fs"
)

//go:embed static dist
var files embed.FS

// Asset is one file the server serves.
type Asset struct {
	Body        []byte
	ContentType string
}

// Page is the wallet's one HTML page.
func Page() Asset { return mustRead("static/index.html", "text/html; charset=utf-8") }

// Assets are served under /assets/ by name.
func Assets() map[string]Asset {
	return map[string]Asset{
		"app.js":  mustRead("dist/app.js", "text/javascript; charset=utf-8"),
		"app.css": mustRead("static/app.css", "text/css; charset=utf-8"),
	}
}

func mustRead(name, ct string) Asset {
	b, err := fs.ReadFile(files, name)
	if err != nil {
		panic("web: " + name + " is not embedded: " + err.Error())
	}
	return Asset{Body: b, ContentType: ct}
}
