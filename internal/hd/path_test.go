package hd

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

const h = Hardened

func TestParsePath(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Path
	}{
		{"accepts the master", "m", Path{}},
		{"accepts BIP44 Ethereum", "m/44'/60'/0'/0/7", Path{44 + h, 60 + h, 0 + h, 0, 7}},
		{"accepts h as hardened marker", "m/44h/501h/0h/0h", Path{44 + h, 501 + h, 0 + h, 0 + h}},
		{"accepts H as hardened marker", "m/84H/0H/0H/0/1", Path{84 + h, 0 + h, 0 + h, 0, 1}},
		{"accepts mixed markers", "m/1'/2h/3H/4", Path{1 + h, 2 + h, 3 + h, 4}},
		{"accepts the largest index", "m/2147483647", Path{2147483647}},
		{"accepts the largest hardened index", "m/2147483647'", Path{0xffffffff}},
		{"accepts zero", "m/0", Path{0}},
		{"accepts depth 255", "m" + strings.Repeat("/1", 255), slices.Repeat(Path{1}, 255)},
		{"accepts the EIP-2334 validator path", "m/12381/3600/0/0/0", Path{12381, 3600, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePath(tt.in)
			if err != nil {
				t.Fatalf("ParsePath(%q): %v", tt.in, err)
			}
			if got == nil || !slices.Equal(got, tt.want) {
				t.Errorf("ParsePath(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParsePathRejects(t *testing.T) {
	tests := []struct{ name, in string }{
		{"rejects empty", ""},
		{"rejects missing m", "44'/60'"},
		{"rejects capital M", "M/44'"},
		{"rejects m with trailing slash", "m/"},
		{"rejects empty component", "m/44'//0"},
		{"rejects trailing slash", "m/44'/60'/"},
		{"rejects leading slash", "/m/44'"},
		{"rejects index overflow", "m/2147483648"},
		{"rejects index overflow before the marker", "m/2147483648'"},
		{"rejects uint32 overflow", "m/4294967296"},
		{"rejects a huge index", "m/99999999999999999999999"},
		{"rejects leading plus", "m/+1"},
		{"rejects leading minus", "m/-1"},
		{"rejects leading zero", "m/01"},
		{"rejects a space", "m/44' /60'"},
		{"rejects a leading space", " m/44'"},
		{"rejects a trailing newline", "m/44'\n"},
		{"rejects a marker alone", "m/'"},
		{"rejects two markers", "m/44''"},
		{"rejects a marker before the digits", "m/'44"},
		{"rejects other markers", "m/44p"},
		{"rejects hex", "m/0x10"},
		{"rejects non-ASCII digits", "m/\u0664\u0664"},
		{"rejects depth 256", "m" + strings.Repeat("/1", 256)},
		{"rejects more than 1024 characters", "m/" + strings.Repeat("1/", 511) + "11"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePath(tt.in)
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("ParsePath(%q) = %v, %v; want ErrInvalidPath", tt.in, p, err)
			}
		})
	}
}

func TestPathString(t *testing.T) {
	tests := []struct {
		name string
		p    Path
		want string
	}{
		{"writes the master as m", Path{}, "m"},
		{"writes nil as m", nil, "m"},
		{"writes ' for hardened", Path{44 + h, 60 + h, 0 + h, 0, 7}, "m/44'/60'/0'/0/7"},
		{"writes the extremes", Path{0, 0x7fffffff, 0x80000000, 0xffffffff}, "m/0/2147483647/0'/2147483647'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPathHardened(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"m", true},
		{"m/44'/501'/0'/0'", true},
		{"m/44'/60'/0'/0/0", false},
		{"m/0", false},
		{"m/0/1'", false},
	}
	for _, tt := range tests {
		if got := mustPath(t, tt.in).Hardened(); got != tt.want {
			t.Errorf("ParsePath(%q).Hardened() = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"m", "m/0", "m/44'/60'/0'/0/7", "m/44h/501H/0'/0'", "m/2147483647'", "m/2147483648", "m//1", "m/01", "m/+1", "m/1 ", "M/1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("error = %v, want ErrInvalidPath", err)
			}
			return
		}
		q, err := ParsePath(p.String())
		if err != nil {
			t.Fatalf("ParsePath(%q) after round trip: %v", p.String(), err)
		}
		if !slices.Equal(p, q) {
			t.Fatalf("round trip of %q gives %v, want %v", s, q, p)
		}
		// Strictness: the only freedom in spelling is the marker.
		if got, want := p.String(), strings.NewReplacer("h", "'", "H", "'").Replace(s); got != want {
			t.Fatalf("String() = %q, want %q", got, want)
		}
	})
}
