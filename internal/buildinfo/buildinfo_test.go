package buildinfo

import "testing"

func TestInfoSaysTheVersionTheRevisionAndWhetherTheTreeWasClean(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Info
		want string
	}{
		{"a release", Info{Module: "v1.2.3", Revision: "abc", Time: "2026-12-04T20:00:00Z", GoVersion: "go1.26.0"}, "v1.2.3 (revision abc, 2026-12-04T20:00:00Z; go1.26.0)"},
		{"a modified tree", Info{Module: "(devel)", Revision: "abc", Modified: true}, "(devel) (revision abc, with uncommitted changes)"},
		{"no VCS", Info{Module: "(devel)", GoVersion: "go1.26.0"}, "(devel) (no revision recorded; go1.26.0)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.String(); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	if got := Read(); got.GoVersion == "" || got.Module == "" {
		t.Fatalf("Read: %+v", got)
	}
}
