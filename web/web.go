// Package web holds Ditto, the web wallet, as the niomon server serves
// it: the page and its stylesheet (static/) and the script bundled from
// src/ (dist/app.js), and the demo dApp niomon dev serves (demo/). The bundle is committed, so the server builds with
// Go alone; TestBundleMatchesSources rebuilds it with esbuild's Go API
// and fails when it differs (run it with -update to write it).
package web

import (
	"embed"
	"io/fs"
)

//go:embed static dist demo/index.html demo/demo.css demo/dist
var files embed.FS

// Asset is one file the server serves.
type Asset struct {
	Body        []byte
	ContentType string
}

// Page is the wallet's one HTML page.
func Page() Asset { return mustRead("static/index.html", "text/html; charset=utf-8") }

// Assets are served under /assets/ by name: the stylesheet, app.js and
// the chunks it loads when first needed.
func Assets() map[string]Asset {
	out := map[string]Asset{"app.css": mustRead("static/app.css", "text/css; charset=utf-8")}
	scripts, err := fs.ReadDir(files, "dist")
	if err != nil {
		panic("web: dist is not embedded: " + err.Error())
	}
	for _, f := range scripts {
		out[f.Name()] = mustRead("dist/"+f.Name(), "text/javascript; charset=utf-8")
	}
	return out
}

// Demo is the demo dApp niomon dev serves at an origin of its own, by
// name: index.html (its wallet URL is the placeholder WALLET_URL in a
// meta tag), demo.css and demo.js.
func Demo() map[string]Asset {
	return map[string]Asset{
		"index.html": mustRead("demo/index.html", "text/html; charset=utf-8"),
		"demo.css":   mustRead("demo/demo.css", "text/css; charset=utf-8"),
		"demo.js":    mustRead("demo/dist/demo.js", "text/javascript; charset=utf-8"),
	}
}

// FirstLoad is what a first visit fetches: the page, the stylesheet and
// app.js (the chunks come later, when a screen needs them).
func FirstLoad() int {
	a := Assets()
	return len(Page().Body) + len(a["app.css"].Body) + len(a["app.js"].Body)
}

func mustRead(name, ct string) Asset {
	b, err := fs.ReadFile(files, name)
	if err != nil {
		panic("web: " + name + " is not embedded: " + err.Error())
	}
	return Asset{Body: b, ContentType: ct}
}
