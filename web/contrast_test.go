package web

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The stylesheet's colour pairs meet WCAG 2.2's 4.5:1 contrast for text
// (success criterion 1.4.3), in the light scheme and the dark one.

var varRe = regexp.MustCompile(`--([a-z-]+):\s*(#[0-9a-fA-F]{6})`)

// schemes reads the custom properties of :root and of the dark scheme's
// :root from static/app.css.
func schemes(t *testing.T) map[string]map[string]string {
	t.Helper()
	css := string(mustRead("static/app.css", "").Body)
	dark := strings.Index(css, "prefers-color-scheme: dark")
	if dark < 0 {
		t.Fatal("app.css has no dark scheme")
	}
	read := func(s string) map[string]string {
		m := map[string]string{}
		for _, v := range varRe.FindAllStringSubmatch(s, -1) {
			if _, ok := m[v[1]]; !ok {
				m[v[1]] = v[2]
			}
		}
		return m
	}
	light := read(css[:dark])
	darkVars := read(css[dark:])
	return map[string]map[string]string{"light": light, "dark": darkVars}
}

func luminance(hex string) float64 {
	var c [3]float64
	for i := range 3 {
		v, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		s := float64(v) / 255
		if s <= 0.04045 {
			c[i] = s / 12.92
		} else {
			c[i] = math.Pow((s+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2]
}

func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05)
}

func TestTheStylesheetsTextColoursMeetWCAGContrast(t *testing.T) {
	pairs := []struct{ fg, bg string }{
		{"fg", "bg"}, {"fg", "card"}, {"muted", "bg"}, {"muted", "card"},
		{"accent", "card"}, {"accent", "bg"}, {"accent-fg", "accent"},
		{"error", "error-bg"}, {"error", "card"}, {"card", "error"}, {"fg", "ok-bg"},
	}
	for name, vars := range schemes(t) {
		for _, p := range pairs {
			t.Run(fmt.Sprintf("%s/%s on %s", name, p.fg, p.bg), func(t *testing.T) {
				fg, bg := vars[p.fg], vars[p.bg]
				if fg == "" || bg == "" {
					t.Fatalf("--%s or --%s is not set", p.fg, p.bg)
				}
				if c := contrast(fg, bg); c < 4.5 {
					t.Fatalf("%s on %s: contrast %.2f, want at least 4.5", fg, bg, c)
				}
			})
		}
	}
}
