package drk

import (
	"bytes"
	"testing"
)

// fuzzSeeds returns a few valid shares' encodings and paper forms.
func fuzzSeeds(f *testing.F) (bins [][]byte, papers []string) {
	for _, p := range []struct{ k, n int }{{2, 2}, {3, 5}, {16, 16}} {
		sp, err := Generate(p.k, p.n)
		if err != nil {
			f.Fatalf("Generate: %v", err)
		}
		for _, s := range []*Share{sp.Shares[0], sp.Shares[p.n-1]} {
			b, _ := s.MarshalBinary()
			bins = append(bins, b)
			papers = append(papers, s.Paper())
		}
	}
	return bins, papers
}

func FuzzParseShare(f *testing.F) {
	bins, _ := fuzzSeeds(f)
	for _, b := range bins {
		f.Add(b)
		f.Add(b[:len(b)-1])
	}
	f.Add([]byte{})
	f.Add([]byte{0x86, 0x02})
	f.Add([]byte{0x87, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseShare(b)
		if err != nil {
			if s != nil {
				t.Fatalf("got a share and an error")
			}
			return
		}
		// Accepted input is canonical: it re-encodes to itself, and its
		// paper form parses back to the same share.
		again, err := s.MarshalBinary()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted input does not re-encode to itself: %v", err)
		}
		p, err := ParsePaper(s.Paper())
		if err != nil || !sameShare(p, s) {
			t.Fatalf("paper round trip of an accepted share: %v", err)
		}
	})
}

func FuzzParsePaper(f *testing.F) {
	_, papers := fuzzSeeds(f)
	for _, p := range papers {
		f.Add(p)
		f.Add(p[:len(p)-1])
		f.Add(p[len("NIOMON DRK SHARE 1 OF 2 (NEEDS 2)"):])
	}
	f.Add("")
	f.Add("NIOMON DRK SHARE 1 OF 2 (NEEDS 2)")
	f.Add("niomon drk share ( ) -- \r\n")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParsePaper(in)
		if err != nil {
			if s != nil {
				t.Fatalf("got a share and an error")
			}
			return
		}
		// Accepted input round-trips through both forms.
		p, err := ParsePaper(s.Paper())
		if err != nil || !sameShare(p, s) {
			t.Fatalf("paper round trip of an accepted share: %v", err)
		}
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary of an accepted share: %v", err)
		}
		if q, err := ParseShare(b); err != nil || !sameShare(q, s) {
			t.Fatalf("binary round trip of an accepted share: %v", err)
		}
	})
}
