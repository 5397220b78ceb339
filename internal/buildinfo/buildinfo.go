// Package buildinfo says what a binary is: its module version and the
// version-control revision it was built from, as the Go toolchain
// recorded them in it.
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Info is what the build recorded.
type Info struct {
	Module    string // the main module's version: a tag, a pseudo-version, or "(devel)"
	Revision  string // the VCS revision ("" when the build had no VCS)
	Time      string // the revision's commit time (RFC 3339)
	Modified  bool   // the working tree had changes
	GoVersion string
}

// Read reads the running binary's build information.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Module: "unknown"}
	}
	out := Info{Module: bi.Main.Version, GoVersion: bi.GoVersion}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			out.Revision = s.Value
		case "vcs.time":
			out.Time = s.Value
		case "vcs.modified":
			out.Modified = s.Value == "true"
		}
	}
	return out
}

// String is one line: "v1.2.3 (revision 0123abcd…, 2026-12-04T20:00:00Z, modified; go1.26.0)".
func (i Info) String() string {
	var parts []string
	if i.Revision != "" {
		r := "revision " + i.Revision
		if i.Time != "" {
			r += ", " + i.Time
		}
		if i.Modified {
			r += ", with uncommitted changes"
		}
		parts = append(parts, r)
	} else {
		parts = append(parts, "no revision recorded")
	}
	if i.GoVersion != "" {
		parts = append(parts, i.GoVersion)
	}
	return fmt.Sprintf("%s (%s)", i.Module, strings.Join(parts, "; "))
}
