package drk

import "testing"

func BenchmarkGenerate3of5(b *testing.B) {
	for b.Loop() {
		sp, err := Generate(3, 5)
		if err != nil {
			b.Fatal(err)
		}
		sp.Wipe()
	}
}

func BenchmarkRecover3Shares(b *testing.B) {
	sp := generate(b, 3, 5)
	for b.Loop() {
		k, err := Recover(sp.Public, sp.Commitment, sp.Shares[:3])
		if err != nil {
			b.Fatal(err)
		}
		k.Wipe()
	}
}

func BenchmarkSeal(b *testing.B) {
	sp := generate(b, 3, 5)
	for b.Loop() {
		if _, err := Seal(sp.Public, testInfo, testMaster); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	sp := generate(b, 3, 5)
	k, err := Recover(sp.Public, sp.Commitment, sp.Shares[:3])
	if err != nil {
		b.Fatal(err)
	}
	e, err := Seal(sp.Public, testInfo, testMaster)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		pt, err := k.Open(testInfo, e)
		if err != nil {
			b.Fatal(err)
		}
		clear(pt)
	}
}

func BenchmarkParsePaper(b *testing.B) {
	sp := generate(b, 3, 5)
	p := sp.Shares[0].Paper()
	for b.Loop() {
		if _, err := ParsePaper(p); err != nil {
			b.Fatal(err)
		}
	}
}
