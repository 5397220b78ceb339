package drk

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/niomon/niomon/internal/wire"
)

func decodeForTest(b []byte, v any) error { return wire.Unmarshal(b, v) }

func encodeForTest(t testing.TB, v any) []byte {
	t.Helper()
	b, err := wire.Marshal(v)
	if err != nil {
		t.Fatalf("wire.Marshal: %v", err)
	}
	return b
}

// sameShare compares every field, including the secret ones.
func sameShare(a, b *Share) bool { return *a == *b }

func TestShareBinaryRoundTripsAndIsTheProjectsCBOR(t *testing.T) {
	sp := generate(t, 3, 5)
	for _, s := range sp.Shares {
		t.Run(fmt.Sprintf("share %d", s.Index()), func(t *testing.T) {
			b, err := s.MarshalBinary()
			if err != nil {
				t.Fatalf("MarshalBinary: %v", err)
			}
			if len(b) != shareLen {
				t.Fatalf("encoding is %d bytes, want %d", len(b), shareLen)
			}
			// The hand-written encoder must produce exactly what the
			// project's deterministic CBOR encoder produces.
			w := shareWire{Version: shareVersion, DRK: s.drk[:], Index: uint64(s.index),
				Threshold: uint64(s.threshold), Count: uint64(s.count), Value: s.value[:]}
			if !bytes.Equal(b, encodeForTest(t, w)) {
				t.Fatalf("hand encoding differs from wire.Marshal")
			}
			got, err := ParseShare(b)
			if err != nil {
				t.Fatalf("ParseShare: %v", err)
			}
			if !sameShare(got, s) || got.Fingerprint() != s.Fingerprint() {
				t.Fatalf("round trip changed the share")
			}
		})
	}
}

func TestParseShareIsStrict(t *testing.T) {
	sp := generate(t, 3, 5)
	good, err := sp.Shares[1].MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary: %v", err)
	}
	mutate := func(f func(w *shareWire)) []byte {
		var w shareWire
		if err := decodeForTest(good, &w); err != nil {
			t.Fatalf("decode: %v", err)
		}
		f(&w)
		return encodeForTest(t, w)
	}
	n := p256Order(t)
	nMinus1 := bytes.Clone(n)
	nMinus1[scalarLen-1]--
	// The version-1 layout, which carried a Pedersen blinding value.
	v1 := append([]byte{0x87, 0x01}, good[2:]...)
	v1 = append(append(v1, 0x58, scalarLen), good[len(good)-scalarLen:]...)
	type tcase struct {
		name string
		in   []byte
	}
	tests := []tcase{
		{"trailing byte", append(bytes.Clone(good), 0)},
		{"two shares", append(bytes.Clone(good), good...)},
		{"version 0", mutate(func(w *shareWire) { w.Version = 0 })},
		{"version 1", mutate(func(w *shareWire) { w.Version = 1 })},
		{"version 3", mutate(func(w *shareWire) { w.Version = 3 })},
		{"index 0", mutate(func(w *shareWire) { w.Index = 0 })},
		{"index above count", mutate(func(w *shareWire) { w.Index = 6 })},
		{"threshold 1", mutate(func(w *shareWire) { w.Threshold = 1 })},
		{"threshold above count", mutate(func(w *shareWire) { w.Threshold = 6 })},
		{"count 17", mutate(func(w *shareWire) { w.Count = 17; w.Threshold = 17 })},
		{"short DRK fingerprint", mutate(func(w *shareWire) { w.DRK = w.DRK[:31] })},
		{"long value", mutate(func(w *shareWire) { w.Value = append(w.Value, 0) })},
		{"short value", mutate(func(w *shareWire) { w.Value = w.Value[1:] })},
		{"empty value", mutate(func(w *shareWire) { w.Value = nil })},
		{"value n", mutate(func(w *shareWire) { w.Value = n })},
		{"value n+1", mutate(func(w *shareWire) { w.Value = bytes.Clone(n); w.Value[scalarLen-1]++ })},
		{"value 2^256-1", mutate(func(w *shareWire) { w.Value = bytes.Repeat([]byte{0xFF}, scalarLen) })},
		{"version 1 layout with a blinding value", v1},
		{"version 2 with a blinding value", append(append([]byte{0x87}, good[1:]...), append([]byte{0x58, scalarLen}, good[len(good)-scalarLen:]...)...)},
		{"value as a text string", append(bytes.Clone(good[:len(good)-34]), append([]byte{0x78, scalarLen}, good[len(good)-scalarLen:]...)...)},
		{"non-minimal integer", append([]byte{0x86, 0x18, 0x02}, good[2:]...)},
		{"non-minimal byte string length", append([]byte{0x86, 0x02, 0x59, 0x00, 0x20}, good[4:]...)},
		{"indefinite-length array", append(append([]byte{0x9F}, good[1:]...), 0xFF)},
		{"tagged", append([]byte{0xD8, 0x40}, good...)},
		{"array of 5", append([]byte{0x85}, good[1:len(good)-34]...)},
		{"array of 7", append(append([]byte{0x87}, good[1:]...), 0x00)},
		{"map", encodeForTest(t, map[int][]byte{1: good})},
		{"oversized", make([]byte, maxShareEncoding+1)},
	}
	for n := range len(good) {
		tests = append(tests, tcase{fmt.Sprintf("truncated to %d bytes", n), good[:n]})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseShare(tc.in)
			if s != nil || !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}

	// The value is any scalar, 0 to n-1: a Shamir share value is uniform
	// over the field, and zero is as likely as any other.
	for name, v := range map[string][]byte{"value 0": make([]byte, scalarLen), "value n-1": nMinus1} {
		t.Run(name, func(t *testing.T) {
			in := mutate(func(w *shareWire) { w.Value = v })
			s, err := ParseShare(in)
			if err != nil {
				t.Fatalf("ParseShare: %v", err)
			}
			if !bytes.Equal(s.value[:], v) {
				t.Fatalf("parsed another value")
			}
			if p, err := ParsePaper(s.Paper()); err != nil || !sameShare(p, s) {
				t.Fatalf("paper round trip: %v", err)
			}
		})
	}
}

// p256Order returns n, the order of P-256 (FIPS 186-5 / SP 800-186,
// section 3.2.1.3), checked against circl: -1 encodes as n-1.
func p256Order(t testing.TB) []byte {
	t.Helper()
	n, _ := hex.DecodeString("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")
	m1, err := field.NewScalar().Neg(field.NewScalar().SetUint64(1)).MarshalBinary()
	if err != nil {
		t.Fatalf("circl: %v", err)
	}
	want := bytes.Clone(n)
	want[scalarLen-1]--
	if !bytes.Equal(m1, want) {
		t.Fatalf("circl's P-256 order differs: -1 = %x", m1)
	}
	return n
}

func TestWipedShareIsRefusedEverywhere(t *testing.T) {
	sp := generate(t, 2, 2)
	s := sp.Shares[0]
	s.Wipe()
	if *s != (Share{}) {
		t.Fatalf("Wipe left data in the share")
	}
	if _, err := s.MarshalBinary(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("MarshalBinary: got %v, want ErrMalformed", err)
	}
	if p := s.Paper(); p != "" {
		t.Fatalf("Paper of a wiped share is not empty")
	}
	if fp := s.Fingerprint(); fp != [32]byte{} {
		t.Fatalf("Fingerprint of a wiped share is not zero")
	}
	var nilShare *Share
	nilShare.Wipe() // must not panic
}

func TestPaperRoundTripsForEveryShare(t *testing.T) {
	for _, params := range []struct{ threshold, count int }{{3, 5}, {16, 16}} {
		sp := generate(t, params.threshold, params.count)
		for _, s := range sp.Shares {
			t.Run(fmt.Sprintf("%d of %d share %d", params.threshold, params.count, s.Index()), func(t *testing.T) {
				p := s.Paper()
				lines := strings.Split(p, "\n")
				wantHeader := fmt.Sprintf("NIOMON DRK SHARE %d OF %d (NEEDS %d)", s.Index(), params.count, params.threshold)
				if lines[0] != wantHeader {
					t.Fatalf("header: got %q, want %q", lines[0], wantHeader)
				}
				// 73 + 4 bytes are 124 characters: 31 groups of 4, 6 to a line.
				if len(lines) != 1+6 {
					t.Fatalf("got %d body lines, want 6", len(lines)-1)
				}
				if !strings.HasPrefix(lines[1], "QYBF-QI") {
					t.Fatalf("body starts %q, want QYBF-QI", lines[1][:7])
				}
				for i, line := range lines[1:] {
					groups := strings.Split(line, "-")
					if i < 5 && len(groups) != 6 || i == 5 && len(groups) != 1 {
						t.Fatalf("line %d has %d groups", i+1, len(groups))
					}
					for _, g := range groups {
						if len(g) != 4 {
							t.Fatalf("line %d has a group of %d characters", i+1, len(g))
						}
					}
				}
				got, err := ParsePaper(p)
				if err != nil {
					t.Fatalf("ParsePaper: %v", err)
				}
				if !sameShare(got, s) {
					t.Fatalf("round trip changed the share")
				}
			})
		}
	}
}

// TestPaperDetectsEverySingleCharacterChange changes each body character to
// each other base32 symbol. A changed symbol is a fixed 5-bit error pattern
// at a fixed position whatever the share, and the CRC is linear, so this
// exhaustive run over one share shows detection for every share.
func TestPaperDetectsEverySingleCharacterChange(t *testing.T) {
	sp := generate(t, 3, 5)
	p := sp.Shares[2].Paper()
	body := strings.IndexByte(p, '\n') + 1
	changes, located, named := 0, 0, 0
	group := 0 // the body group of position i, as a holder counts them
	for i := body; i < len(p); i++ {
		if p[i] == '-' || p[i] == '\n' {
			group++
			continue
		}
		for _, c := range base32Alphabet {
			if byte(c) == p[i] {
				continue
			}
			typo := p[:i] + string(c) + p[i+1:]
			if s, err := parsePaper(typo, false); s != nil || !errors.Is(err, ErrChecksum) {
				t.Fatalf("character %d changed: got %v, want ErrChecksum", i, err)
			}
			changes++
			// Locating costs thousands of checksums: every 11th typo.
			if changes%11 != 0 {
				continue
			}
			located++
			_, err := ParsePaper(typo)
			// When the error names a group, it is the one with the typo.
			if strings.Contains(err.Error(), "check group") {
				if want := fmt.Sprintf("check group %d ", group+1); !strings.Contains(err.Error(), want) {
					t.Fatalf("character %d (group %d) changed: %v", i, group+1, err)
				}
				named++
			}
		}
	}
	if changes != 124*31 {
		t.Fatalf("tried %d changes, want %d", changes, 124*31)
	}
	// Nearly every single mistyped character is located.
	if named < located*9/10 {
		t.Fatalf("the group was named for %d of %d typos, want at least 90%%", named, located)
	}
	// In the header a changed character either breaks the header or makes
	// it disagree with the share.
	for i := range body - 1 {
		for _, c := range base32Alphabet {
			if byte(c) == p[i] {
				continue
			}
			if s, err := ParsePaper(p[:i] + string(c) + p[i+1:]); s != nil || err == nil {
				t.Fatalf("header character %d changed: accepted", i)
			}
		}
	}
}

func TestPaperDetectsMissingExtraAndSwappedCharacters(t *testing.T) {
	sp := generate(t, 3, 5)
	p := sp.Shares[0].Paper()
	header, rest, _ := strings.Cut(p, "\n")
	body := strings.NewReplacer("-", "", "\n", "").Replace(rest)
	for i := range len(body) {
		cases := map[string]string{
			"missing": body[:i] + body[i+1:],
			"extra":   body[:i] + "A" + body[i:],
		}
		if i+1 < len(body) && body[i] != body[i+1] {
			cases["swapped"] = body[:i] + body[i+1:i+2] + body[i:i+1] + body[i+2:]
		}
		for kind, typo := range cases {
			if s, err := parsePaper(header+"\n"+typo, false); s != nil || !errors.Is(err, ErrChecksum) {
				t.Fatalf("%s character at %d: got %v, want ErrChecksum", kind, i, err)
			}
		}
	}
}

func TestPaperToleratesCaseSpacesLineBreaksAndDashes(t *testing.T) {
	sp := generate(t, 3, 5)
	s := sp.Shares[3]
	p := s.Paper()
	header, rest, _ := strings.Cut(p, "\n")
	compact := strings.NewReplacer("-", "", "\n", "").Replace(rest)
	tests := map[string]string{
		"as printed":              p,
		"lower case":              strings.ToLower(p),
		"mixed case":              strings.ToLower(p[:60]) + p[60:],
		"no header":               rest,
		"no header, one line":     compact,
		"no dashes":               strings.ReplaceAll(p, "-", ""),
		"spaces for dashes":       strings.ReplaceAll(p, "-", " "),
		"CRLF line breaks":        strings.ReplaceAll(p, "\n", "\r\n"),
		"all on one line":         strings.ReplaceAll(p, "\n", " "),
		"tabs and blank lines":    "\n\t" + strings.ReplaceAll(p, "\n", "\n\n\t") + "\n\n",
		"header spacing":          strings.Replace(p, " OF ", "   of\t", 1),
		"groups of 5 with dashes": header + "\n" + regroup(compact, 5),
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParsePaper(in)
			if err != nil {
				t.Fatalf("ParsePaper: %v", err)
			}
			if !sameShare(got, s) {
				t.Fatalf("parsed another share")
			}
		})
	}
}

func regroup(s string, n int) string {
	var b strings.Builder
	for i := 0; i < len(s); i += n {
		if i > 0 {
			b.WriteString("--")
		}
		b.WriteString(s[i:min(i+n, len(s))])
	}
	return b.String()
}

func TestParsePaperRejectsForeignCharactersAndMismatchedHeaders(t *testing.T) {
	sp := generate(t, 3, 5)
	p := sp.Shares[1].Paper()
	header, rest, _ := strings.Cut(p, "\n")
	tests := []struct {
		name    string
		in      string
		want    error
		wantMsg string
	}{
		{"digit zero", header + "\n0" + rest[1:], ErrMalformed, "character 1 "},
		{"digit one", header + "\n" + rest[:5] + "1" + rest[6:], ErrMalformed, "character 5 "},
		{"digit eight", header + "\n" + rest[:10] + "8" + rest[11:], ErrMalformed, "character 9 "},
		{"padding", p + "======", ErrMalformed, ""},
		{"another share's header", strings.Replace(header, "SHARE 2", "SHARE 3", 1) + "\n" + rest, ErrMalformed, "header"},
		{"another count", strings.Replace(header, "OF 5", "OF 6", 1) + "\n" + rest, ErrMalformed, "header"},
		{"another threshold", strings.Replace(header, "NEEDS 3", "NEEDS 2", 1) + "\n" + rest, ErrMalformed, "header"},
		{"unknown header", "NIOMON DRK KEY 2 OF 5 (NEEDS 3)\n" + rest, ErrMalformed, ""},
		{"header only", header, ErrChecksum, ""},
		{"empty", "", ErrChecksum, ""},
		{"too long", strings.Repeat("A", maxPaper+1), ErrMalformed, ""},
		{"non-ASCII", header + "\n" + "É" + rest, ErrMalformed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParsePaper(tc.in)
			if s != nil || !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("got %q, want it to mention %q", err, tc.wantMsg)
			}
		})
	}
}

func TestShareFingerprintIsTheHashOfTheEncoding(t *testing.T) {
	sp := generate(t, 3, 5)
	seen := map[[32]byte]bool{}
	for _, s := range sp.Shares {
		fp := s.Fingerprint()
		if seen[fp] {
			t.Fatalf("two shares have the same fingerprint")
		}
		seen[fp] = true
		b, _ := s.MarshalBinary()
		if fp != sha256.Sum256(b) {
			t.Fatalf("share %d: fingerprint is not SHA-256 of the encoding", s.Index())
		}
	}
}
