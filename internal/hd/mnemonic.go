package hd

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"strings"

	"github.com/cosmos/go-bip39"
	"golang.org/x/text/unicode/norm"
)

// maxPhraseLen bounds the input to ParseMnemonic before any normalisation
// work. The longest valid English phrase is 24×8 letters + 23 spaces = 215
// bytes; 2048 leaves room for stray whitespace and full-width characters
// (3 bytes each in UTF-8, folded to ASCII by NFKD) while keeping untrusted
// input small.
const maxPhraseLen = 2048

// Mnemonic is BIP39 entropy: the secret from which the phrase, the seed and
// every key of a wallet follow. The zero value is unusable.
type Mnemonic struct {
	entropy [32]byte
	n       uint8 // bytes of entropy in use; 0 for the zero value or after Wipe
}

// entropyLen maps a word count to its entropy length in bytes, per the
// BIP39 table ENT = 32·MS/3 bits: 12→16, 15→20, 18→24, 21→28, 24→32.
func entropyLen(words int) (int, bool) {
	switch words {
	case 12, 15, 18, 21, 24:
		return words * 4 / 3, true
	}
	return 0, false
}

// GenerateMnemonic returns a new mnemonic of the given number of words
// (12, 15, 18, 21 or 24) with entropy from crypto/rand.
func GenerateMnemonic(words int) (*Mnemonic, error) {
	n, ok := entropyLen(words)
	if !ok {
		return nil, fmt.Errorf("%w: %d words requested, BIP39 allows 12, 15, 18, 21 or 24", ErrInvalidWords, words)
	}
	m := &Mnemonic{n: uint8(n)}
	if _, err := rand.Read(m.entropy[:n]); err != nil {
		m.Wipe()
		return nil, fmt.Errorf("hd: reading randomness: %w", err)
	}
	return m, nil
}

// MnemonicFromEntropy returns the mnemonic for 16, 20, 24, 28 or 32 bytes
// of entropy (for example entropy unsealed from storage). It copies its
// input; the caller still owns, and should clear, the slice it passed.
func MnemonicFromEntropy(entropy []byte) (*Mnemonic, error) {
	switch len(entropy) {
	case 16, 20, 24, 28, 32:
	default:
		return nil, fmt.Errorf("%w: %d bytes, BIP39 allows 16, 20, 24, 28 or 32", ErrInvalidEntropy, len(entropy))
	}
	m := &Mnemonic{n: uint8(len(entropy))}
	copy(m.entropy[:], entropy)
	return m, nil
}

// ParseMnemonic parses an English BIP39 phrase. It applies NFKD (as BIP39
// prescribes for the phrase), splits on any run of white space and
// lower-cases each token, then checks every token against the word list and
// the checksum.
//
// The decoding is written here rather than taken from go-bip39's
// MnemonicToByteArray because that function names the offending word in its
// error (a phrase fragment in a log line breaks invariant 1) and returns
// entropy‖checksum packed as one integer. Errors from this function give
// only counts and 1-based positions, in words that are not on the BIP39
// list.
func ParseMnemonic(phrase string) (*Mnemonic, error) {
	if len(phrase) > maxPhraseLen {
		return nil, fmt.Errorf("%w: exceeds %d bytes", ErrInvalidMnemonic, maxPhraseLen)
	}
	tokens := strings.Fields(norm.NFKD.String(phrase))
	n, ok := entropyLen(len(tokens))
	if !ok {
		return nil, fmt.Errorf("%w: %d tokens, BIP39 allows 12, 15, 18, 21 or 24", ErrInvalidMnemonic, len(tokens))
	}

	// Concatenate the 11-bit indexes, most significant bit first: the
	// first 8·n bits are the entropy, the rest (n/4 bits) the checksum.
	var bits [33]byte // 24 words × 11 bits = 264 bits
	defer clear(bits[:])
	pos := 0
	for i, tok := range tokens {
		idx, ok := bip39.ReverseWordMap[strings.ToLower(tok)]
		if !ok {
			return nil, fmt.Errorf("%w: #%d of %d is not in the BIP39 English wordlist", ErrInvalidMnemonic, i+1, len(tokens))
		}
		for b := 10; b >= 0; b-- {
			// Branch-free on the (secret) index bits.
			bits[pos/8] |= byte(idx>>b&1) << (7 - pos%8)
			pos++
		}
	}

	csBits := uint(n / 4)
	sum := sha256.Sum256(bits[:n])
	want := sum[0] >> (8 - csBits)
	got := bits[n] >> (8 - csBits)
	clear(sum[:])
	if subtle.ConstantTimeByteEq(want, got) != 1 {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrInvalidMnemonic)
	}
	m := &Mnemonic{n: uint8(n)}
	copy(m.entropy[:], bits[:n])
	return m, nil
}

// Words returns the number of words of the phrase (0 after Wipe).
func (m *Mnemonic) Words() int {
	if m == nil {
		return 0
	}
	return int(m.n) * 3 / 4
}

// Entropy returns a copy of the entropy, for sealing. The caller should
// clear it when done.
func (m *Mnemonic) Entropy() []byte {
	if m == nil || m.n == 0 {
		return nil
	}
	return append([]byte(nil), m.entropy[:m.n]...)
}

// Phrase returns the words separated by single spaces, or "" after Wipe.
// A Go string cannot be wiped: call it only to show the phrase to its
// owner (through an encrypted export), never to log or store it.
func (m *Mnemonic) Phrase() string {
	if m == nil || m.n == 0 {
		return ""
	}
	// The length was checked on construction, so go-bip39 cannot fail here.
	p, err := bip39.NewMnemonic(m.entropy[:m.n])
	if err != nil {
		return ""
	}
	return p
}

// Seed returns the BIP39 seed: PBKDF2-HMAC-SHA512 of the phrase with salt
// "mnemonic"+passphrase, 2048 iterations, 64 bytes. The passphrase is NFKD
// normalised as BIP39 requires (go-bip39 does not normalise).
//
// Seed returns nil for a wiped or zero Mnemonic, so that such a mnemonic
// never yields a valid-looking seed; NewMaster rejects a nil seed.
func (m *Mnemonic) Seed(passphrase string) *Seed {
	if m == nil || m.n == 0 {
		return nil
	}
	return bip39Seed(m.Phrase(), passphrase)
}

// Wipe zeroes the entropy. The Mnemonic is unusable afterwards.
func (m *Mnemonic) Wipe() {
	if m == nil {
		return
	}
	clear(m.entropy[:])
	m.n = 0
}
