package hd

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"unicode"

	"github.com/cosmos/go-bip39"
	"golang.org/x/text/unicode/norm"
)

// Failure messages here name the vector index, never the secret values
// (entropy, seed, xprv): test logs are logs too.

func TestBIP39TrezorEnglishVectors(t *testing.T) {
	var vs trezorVectors
	loadJSON(t, "bip39_trezor_vectors.json", &vs)
	if got := len(vs["english"]); got != 24 {
		t.Fatalf("got %d English vectors, want 24", got)
	}
	for i, v := range vs["english"] {
		entropy, phrase, seed := mustHex(t, v[0]), v[1], mustHex(t, v[2])

		m, err := MnemonicFromEntropy(entropy)
		if err != nil {
			t.Fatalf("vector %d: MnemonicFromEntropy: %v", i, err)
		}
		if m.Phrase() != phrase {
			t.Errorf("vector %d: entropy→mnemonic differs from the vector", i)
		}
		if got, want := m.Words(), len(strings.Fields(phrase)); got != want {
			t.Errorf("vector %d: Words() = %d, want %d", i, got, want)
		}

		p, err := ParseMnemonic(phrase)
		if err != nil {
			t.Fatalf("vector %d: ParseMnemonic: %v", i, err)
		}
		if !bytes.Equal(p.Entropy(), entropy) {
			t.Errorf("vector %d: mnemonic→entropy differs from the vector", i)
		}

		s := p.Seed("TREZOR")
		if s == nil || !bytes.Equal(s.bytes(), seed) {
			t.Fatalf("vector %d: seed with passphrase TREZOR differs from the vector", i)
		}
		checkMasterXprv(t, i, "english", s, v[3])
	}
}

// TestBIP39SeedNormalisesEveryLanguage checks the seed and master xprv of
// all 12 languages of the Trezor file. Only English mnemonics can be
// parsed, but the seed function is language-blind, and the Japanese
// (ideographic spaces, composed kana), Korean and Spanish phrases are not
// in NFKD in the file: they pass only if the phrase is NFKD-normalised
// before PBKDF2, the same code path that normalises the passphrase.
func TestBIP39SeedNormalisesEveryLanguage(t *testing.T) {
	var vs trezorVectors
	loadJSON(t, "bip39_trezor_vectors.json", &vs)
	if got := len(vs); got != 12 {
		t.Fatalf("got %d languages, want 12", got)
	}
	for lang, list := range vs {
		for i, v := range list {
			s := bip39Seed(v[1], "TREZOR")
			if s == nil || !bytes.Equal(s.bytes(), mustHex(t, v[2])) {
				t.Errorf("%s vector %d: seed differs from the vector", lang, i)
				continue
			}
			checkMasterXprv(t, i, lang, s, v[3])
		}
	}
	// The Japanese vectors really exercise NFKD: without it the seed differs.
	ja := vs["japanese"][0]
	if bytes.Equal(bip39.NewSeed(ja[1], "TREZOR"), mustHex(t, ja[2])) {
		t.Fatalf("japanese vector 0: un-normalised seed matches, want a vector that needs NFKD")
	}
}

func checkMasterXprv(t *testing.T, i int, lang string, s *Seed, want string) {
	t.Helper()
	n, err := NewMaster(s, Secp256k1)
	if err != nil {
		t.Fatalf("%s vector %d: NewMaster: %v", lang, i, err)
	}
	got, err := n.ExtendedPrivateKey()
	if err != nil {
		t.Fatalf("%s vector %d: ExtendedPrivateKey: %v", lang, i, err)
	}
	if got != want {
		t.Errorf("%s vector %d: master xprv differs from the vector", lang, i)
	}
}

// TestSeedPassphraseIsNFKDNormalised: the same passphrase typed in NFC and
// in NFD must open the same wallet, and both must equal go-bip39 (which
// does not normalise) applied to the NFKD form.
func TestSeedPassphraseIsNFKDNormalised(t *testing.T) {
	m, err := MnemonicFromEntropy(make([]byte, 16)) // abandon … about
	if err != nil {
		t.Fatal(err)
	}
	const nfc = "p\u00e4ssw\u00f6rd \uff21\u2460" // ä ö composed, fullwidth A, circled 1
	nfd := norm.NFD.String(nfc)
	if nfc == nfd {
		t.Fatalf("test passphrases are equal, want distinct NFC and NFD forms")
	}
	a, b := m.Seed(nfc), m.Seed(nfd)
	if !bytes.Equal(a.bytes(), b.bytes()) {
		t.Fatalf("NFC and NFD passphrases give different seeds, want the same")
	}
	want := bip39.NewSeed(m.Phrase(), norm.NFKD.String(nfc))
	if !bytes.Equal(a.bytes(), want) {
		t.Fatalf("seed differs from go-bip39 on the NFKD passphrase")
	}
	// Pinned value, computed independently with Python's hashlib.pbkdf2_hmac on
	// the NFKD form "pa\u0308sswo\u0308rd A1",
	// so a change in both libraries' behaviour is caught too.
	const wantPrefix = "b04962de683c92e8"
	if got := hex.EncodeToString(a.bytes()[:8]); got != wantPrefix {
		t.Errorf("seed prefix = %s, want %s", got, wantPrefix)
	}
	if bytes.Equal(a.bytes(), bip39.NewSeed(m.Phrase(), nfc)) {
		t.Errorf("seed equals the un-normalised computation, want NFKD to change it")
	}
}

func TestGenerateMnemonicMakesEachWordCount(t *testing.T) {
	for _, words := range []int{12, 15, 18, 21, 24} {
		m, err := GenerateMnemonic(words)
		if err != nil {
			t.Fatalf("GenerateMnemonic(%d): %v", words, err)
		}
		if got := m.Words(); got != words {
			t.Errorf("Words() = %d, want %d", got, words)
		}
		if got, want := len(m.Entropy()), words*4/3; got != want {
			t.Errorf("%d words: entropy is %d bytes, want %d", words, got, want)
		}
		if got := len(strings.Fields(m.Phrase())); got != words {
			t.Errorf("%d words: phrase has %d words, want %d", words, got, words)
		}
		p, err := ParseMnemonic(m.Phrase())
		if err != nil {
			t.Fatalf("%d words: generated phrase does not parse: %v", words, err)
		}
		if !bytes.Equal(p.Entropy(), m.Entropy()) {
			t.Errorf("%d words: parsed entropy differs from generated", words)
		}
		m2, _ := GenerateMnemonic(words)
		if bytes.Equal(m.Entropy(), m2.Entropy()) {
			t.Errorf("%d words: two generated mnemonics are equal, want random", words)
		}
	}
}

func TestGenerateMnemonicRejectsBadWordCounts(t *testing.T) {
	for _, words := range []int{-12, 0, 3, 11, 13, 16, 25, 27, 48} {
		if _, err := GenerateMnemonic(words); !errors.Is(err, ErrInvalidWords) {
			t.Errorf("GenerateMnemonic(%d) error = %v, want ErrInvalidWords", words, err)
		}
	}
}

func TestMnemonicFromEntropyRejectsBadLengths(t *testing.T) {
	for _, n := range []int{0, 1, 15, 17, 31, 33, 64} {
		if _, err := MnemonicFromEntropy(make([]byte, n)); !errors.Is(err, ErrInvalidEntropy) {
			t.Errorf("MnemonicFromEntropy(%d bytes) error = %v, want ErrInvalidEntropy", n, err)
		}
	}
}

func TestMnemonicFromEntropyCopiesItsInput(t *testing.T) {
	in := bytes.Repeat([]byte{0x7f}, 16)
	m, err := MnemonicFromEntropy(in)
	if err != nil {
		t.Fatal(err)
	}
	in[0] = 0
	if got := m.Entropy()[0]; got != 0x7f {
		t.Fatalf("entropy[0] = %#x after caller changed its slice, want 0x7f", got)
	}
	e := m.Entropy()
	e[0] = 0
	if got := m.Entropy()[0]; got != 0x7f {
		t.Fatalf("entropy[0] = %#x after caller changed the returned copy, want 0x7f", got)
	}
}

func TestMnemonicWipeZeroesEntropy(t *testing.T) {
	m, err := GenerateMnemonic(24)
	if err != nil {
		t.Fatal(err)
	}
	m.Wipe()
	if m.entropy != [32]byte{} {
		t.Errorf("entropy not zero after Wipe")
	}
	if m.Words() != 0 || m.Phrase() != "" || m.Entropy() != nil || m.Seed("") != nil {
		t.Errorf("wiped mnemonic still yields words, phrase, entropy or seed, want none")
	}
	if _, err := NewMaster(m.Seed(""), Secp256k1); !errors.Is(err, ErrInvalidSeed) {
		t.Errorf("NewMaster(seed of wiped mnemonic) error = %v, want ErrInvalidSeed", err)
	}
}

const abandonAbout = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

func TestParseMnemonicNormalisesInput(t *testing.T) {
	tests := []struct{ name, phrase string }{
		{"accepts canonical", abandonAbout},
		{"accepts upper case", strings.ToUpper(abandonAbout)},
		{"accepts mixed case", "Abandon ABANDON abandon abandon abandon abandon abandon abandon abandon abandon abandon About"},
		{"accepts runs of spaces, tabs and newlines", "  abandon\tabandon\n\nabandon   abandon abandon abandon\r\nabandon abandon abandon abandon abandon about \n"},
		{"accepts ideographic spaces", strings.ReplaceAll(abandonAbout, " ", "\u3000")},
		{"accepts full-width letters (NFKD folds them)", strings.Replace(abandonAbout, "about", "\uff41\uff42\uff4f\uff55\uff54", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMnemonic(tt.phrase)
			if err != nil {
				t.Fatalf("ParseMnemonic: %v", err)
			}
			if !bytes.Equal(m.Entropy(), make([]byte, 16)) {
				t.Errorf("entropy differs from the all-zero entropy")
			}
			if got := m.Phrase(); got != abandonAbout {
				t.Errorf("Phrase() = %q, want %q", got, abandonAbout)
			}
		})
	}
}

// badPhrases are inputs ParseMnemonic must reject; they are public test
// phrases, so names may say what is wrong.
var badPhrases = []struct{ name, phrase string }{
	{"rejects bad checksum", strings.Repeat("abandon ", 12)},
	{"rejects bad checksum in 24 words", strings.Repeat("zoo ", 24)},
	{"rejects unknown word", strings.Replace(abandonAbout, "about", "aboutt", 1)},
	{"rejects word from another language", strings.Replace(abandonAbout, "about", "abaisser", 1)},
	{"rejects accented word", strings.Replace(abandonAbout, "about", "ab\u00f3ut", 1)},
	{"rejects prefix abbreviation", strings.Replace(abandonAbout, "abandon", "aban", 1)},
	{"rejects empty", ""},
	{"rejects white space only", " \t\n"},
	{"rejects 11 words", strings.TrimSuffix(abandonAbout, " about")},
	{"rejects 13 words", abandonAbout + " about"},
	{"rejects 25 words", strings.Repeat("zoo ", 25)},
	{"rejects overlong input", strings.Repeat(" ", maxPhraseLen) + abandonAbout},
	{"rejects punctuation", strings.ReplaceAll(abandonAbout, " ", ",")},
	{"rejects valid words with wrong checksum (list words)", "want list word token position input length valid item term text size"},
}

func TestParseMnemonicRejectsInvalidPhrases(t *testing.T) {
	for _, tt := range badPhrases {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMnemonic(tt.phrase)
			if !errors.Is(err, ErrInvalidMnemonic) {
				t.Fatalf("error = %v, want ErrInvalidMnemonic", err)
			}
			if m != nil {
				t.Errorf("got a mnemonic with the error, want nil")
			}
		})
	}
}

// TestParseMnemonicErrorsNeverEchoInput: no word of the input, and indeed no
// word of the BIP39 list, appears in an error string as a whole word.
func TestParseMnemonicErrorsNeverEchoInput(t *testing.T) {
	var vs trezorVectors
	loadJSON(t, "bip39_trezor_vectors.json", &vs)
	inputs := []string{}
	for _, tt := range badPhrases {
		inputs = append(inputs, tt.phrase)
	}
	for _, v := range vs["english"] {
		w := strings.Fields(v[1])
		// Break the checksum: swap the first two words (or repeat one).
		w[0], w[1] = w[1], w[0]
		inputs = append(inputs, strings.Join(w, " "))
		// An unknown word in the middle.
		w[len(w)/2] = w[len(w)/2] + "x"
		inputs = append(inputs, strings.Join(w, " "))
		// One word short.
		inputs = append(inputs, strings.Join(w[1:], " "))
	}
	rejected := 0
	for i, in := range inputs {
		_, err := ParseMnemonic(in)
		if err == nil {
			continue // a swap can keep the checksum valid by chance
		}
		rejected++
		for _, tok := range errorWords(err.Error()) {
			for _, w := range strings.Fields(strings.ToLower(in)) {
				if tok == w {
					t.Errorf("input %d: error contains an input word at a word boundary", i)
				}
			}
			if _, ok := bip39.ReverseWordMap[tok]; ok {
				t.Errorf("input %d: error contains the BIP39 word %q", i, tok)
			}
		}
	}
	if rejected < len(inputs)/2 {
		t.Fatalf("got %d rejections of %d inputs, want most of them", rejected, len(inputs))
	}
}

// errorWords splits s into lower-case runs of letters.
func errorWords(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) })
}

func TestMnemonicPhraseMatchesGoBIP39(t *testing.T) {
	for _, n := range []int{16, 20, 24, 28, 32} {
		for range 50 {
			m, err := GenerateMnemonic(n * 3 / 4)
			if err != nil {
				t.Fatal(err)
			}
			want, err := bip39.NewMnemonic(m.Entropy())
			if err != nil {
				t.Fatal(err)
			}
			if m.Phrase() != want {
				t.Fatalf("%d-byte entropy: Phrase() differs from go-bip39", n)
			}
		}
	}
}

func FuzzParseMnemonic(f *testing.F) {
	for _, tt := range badPhrases {
		f.Add(tt.phrase)
	}
	f.Add(abandonAbout)
	f.Add(strings.ToUpper(abandonAbout))
	f.Add("legal winner thank year wave sausage worth useful legal winner thank yellow")
	f.Add(strings.Repeat("zoo ", 23) + "vote")
	f.Fuzz(func(t *testing.T, phrase string) {
		m, err := ParseMnemonic(phrase)
		// Differential check against go-bip39 on the normalised input.
		canon := strings.ToLower(strings.Join(strings.Fields(norm.NFKD.String(phrase)), " "))
		_, refErr := bip39.MnemonicToByteArray(canon)
		refOK := len(phrase) <= maxPhraseLen && bip39.IsMnemonicValid(canon) && refErr == nil
		if (err == nil) != refOK {
			t.Fatalf("ParseMnemonic accepted=%v, go-bip39 accepted=%v", err == nil, refOK)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidMnemonic) {
				t.Fatalf("error = %v, want ErrInvalidMnemonic", err)
			}
			return
		}
		p := m.Phrase()
		if p != canon {
			t.Fatalf("Phrase() is not the normalised input")
		}
		m2, err := ParseMnemonic(p)
		if err != nil {
			t.Fatalf("Phrase() does not parse: %v", err)
		}
		if !bytes.Equal(m2.Entropy(), m.Entropy()) {
			t.Fatalf("Phrase() round trip changed the entropy")
		}
	})
}
