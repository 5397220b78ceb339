package drk

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strings"

	"github.com/niomon/niomon/internal/wire"
)

// Share is one holder's share of the DRK: its index (1..count), the value
// f(index) of the Shamir polynomial, the threshold and count of the split,
// and the fingerprint of the DRK public key. All of it stays inside; only
// Index, Threshold, Count, DRK and Fingerprint are exposed. A Share prints
// as a redacted description.
type Share struct {
	drk                     [32]byte
	index, threshold, count int
	value                   [scalarLen]byte // f(index), a P-256 scalar in [0, n-1]; secret
}

const (
	// shareVersion 2 dropped version 1's Pedersen blinding value.
	shareVersion = 2
	// shareLen is the length of a version-2 share encoding.
	shareLen = 1 + 1 + 2 + 32 + 1 + 1 + 1 + 2 + scalarLen
)

// shareWire is the CBOR form of a share, used to decode. Encoding is by
// hand (appendBinary) so that the secret never passes through the CBOR
// library's pooled buffers, which cannot be wiped; a test checks the two
// agree.
type shareWire struct {
	_         struct{} `cbor:",toarray"`
	Version   uint64
	DRK       []byte
	Index     uint64
	Threshold uint64
	Count     uint64
	Value     []byte
}

// Index returns the share's index, 1..Count.
func (s *Share) Index() int { return s.index }

// Threshold returns the number of shares needed.
func (s *Share) Threshold() int { return s.threshold }

// Count returns the number of shares made.
func (s *Share) Count() int { return s.count }

// DRK returns the fingerprint of the DRK public key the share belongs to.
func (s *Share) DRK() [32]byte { return s.drk }

// ok reports whether s is a well-formed, unwiped share.
func (s *Share) ok() bool {
	return s != nil && checkParams(s.threshold, s.count) == nil &&
		s.index >= 1 && s.index <= s.count &&
		validScalar(&s.value)
}

// appendBinary appends the canonical encoding: the deterministic CBOR
// (RFC 8949 §4.2.1) array
//
//	[version 2, drk: bstr .size 32, index, threshold, count,
//	 value: bstr .size 32]
//
// Every integer is at most MaxCount < 24, so it is one byte (major type 0).
// value is the canonical encoding of the scalar f(index) (32 bytes
// big-endian, less than n).
func (s *Share) appendBinary(b []byte) []byte {
	b = append(b, 0x86, shareVersion)
	b = append(b, 0x58, 32)
	b = append(b, s.drk[:]...)
	b = append(b, byte(s.index), byte(s.threshold), byte(s.count))
	b = append(b, 0x58, scalarLen)
	return append(b, s.value[:]...)
}

// MarshalBinary returns the canonical binary encoding (shareLen bytes, see
// appendBinary). It is secret: the caller wipes it.
func (s *Share) MarshalBinary() ([]byte, error) {
	if !s.ok() {
		return nil, fmt.Errorf("%w: share is wiped or invalid", ErrMalformed)
	}
	return s.appendBinary(make([]byte, 0, shareLen)), nil
}

// ParseShare parses a binary share strictly: version 2, the exact CBOR
// layout of MarshalBinary and nothing else (no trailing bytes, no
// non-minimal integers), parameters within limits, and the value less
// than n. A version-1 share (with a Pedersen blinding value) is refused.
func ParseShare(b []byte) (*Share, error) {
	if len(b) > maxShareEncoding {
		return nil, fmt.Errorf("%w: share of %d bytes exceeds %d", ErrMalformed, len(b), maxShareEncoding)
	}
	var w shareWire
	err := wire.Unmarshal(b, &w)
	defer func() {
		clear(w.Value)
	}()
	if err != nil {
		// The CBOR error is not wrapped: it could quote the input.
		return nil, fmt.Errorf("%w: not a CBOR share array", ErrMalformed)
	}
	if w.Version != shareVersion {
		return nil, fmt.Errorf("%w: share version %d, want %d", ErrMalformed, w.Version, shareVersion)
	}
	if len(w.DRK) != 32 || len(w.Value) != scalarLen {
		return nil, fmt.Errorf("%w: share field of the wrong length", ErrMalformed)
	}
	if err := checkParams(w.Threshold, w.Count); err != nil {
		return nil, fmt.Errorf("%w: share: %w", ErrMalformed, err)
	}
	if w.Index < 1 || w.Index > w.Count {
		return nil, fmt.Errorf("%w: share index %d of %d", ErrMalformed, w.Index, w.Count)
	}
	s := &Share{index: int(w.Index), threshold: int(w.Threshold), count: int(w.Count)}
	copy(s.drk[:], w.DRK)
	copy(s.value[:], w.Value)
	if !s.ok() {
		s.Wipe()
		return nil, fmt.Errorf("%w: share %d holds a value out of range", ErrMalformed, w.Index)
	}
	canon := s.appendBinary(make([]byte, 0, shareLen))
	same := bytes.Equal(canon, b)
	clear(canon)
	if !same {
		idx := s.index
		s.Wipe()
		return nil, fmt.Errorf("%w: share %d encoding is not canonical", ErrMalformed, idx)
	}
	return s, nil
}

// Fingerprint returns SHA-256 of the binary encoding (zero for a wiped
// share). It is the commitment's entry for the share's index, so a holder
// can check a share against the published commitment. The encoding holds a
// uniformly random 256-bit scalar, so the fingerprint is safe to publish
// (see the package comment).
func (s *Share) Fingerprint() [32]byte {
	b, err := s.MarshalBinary()
	if err != nil {
		return [32]byte{}
	}
	defer clear(b)
	return sha256.Sum256(b)
}

// Wipe zeroes the share; a wiped share is refused everywhere.
func (s *Share) Wipe() {
	if s != nil {
		*s = Share{}
	}
}

// Format prints a redacted description for every verb, so a share in a
// log line or error shows only public facts. It has a value receiver so
// that a dereferenced share is redacted too.
func (s Share) Format(f fmt.State, _ rune) {
	if s.index == 0 {
		fmt.Fprint(f, "drk.Share{wiped}")
		return
	}
	fmt.Fprintf(f, "drk.Share{%d of %d, needs %d, redacted}", s.index, s.count, s.threshold)
}

// Paper form.
//
// A header line, then the body: the RFC 4648 base32 alphabet (A-Z, 2-7),
// unpadded, of the binary share followed by its CRC-32C (Castagnoli),
// 4 bytes little-endian, in groups of 4 characters joined by '-', 6
// groups to a line:
//
//	NIOMON DRK SHARE 2 OF 5 (NEEDS 3)
//	QYBF-QI..-....-....-....-....   (every v2 share starts QYBFQI)
//	…
//
// A version-2 share is 73 bytes, 77 with the CRC, so the body is 124
// characters in 31 groups on 6 lines (the last holds one group).
//
// Why a CRC and not a truncated hash: the checksum catches typing
// mistakes, and CRC-32C provably detects every error burst of up to 32
// bits, so every single wrong character (5 bits) and every swap of two
// adjacent characters (10 bits) is detected, where 4 bytes of SHA-256
// would miss one in 2^32. Integrity against tampering is the commitment's
// job, not the checksum's. Re-encoding must reproduce the body exactly, so
// a change in the unused low bits of the last character is also caught.
const (
	paperHeaderPrefix = "NIOMON DRK SHARE"
	paperGroup        = 4
	paperGroupsInLine = 6
)

var (
	paperEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)
	crcTable      = crc32.MakeTable(crc32.Castagnoli)
)

func paperHeader(index, count, threshold int) string {
	return fmt.Sprintf("%s %d OF %d (NEEDS %d)", paperHeaderPrefix, index, count, threshold)
}

// Paper returns the printable form of the share (see above), for holders
// who keep their share offline. It is secret, and a Go string cannot be
// wiped: print it and drop it. A wiped share returns "".
func (s *Share) Paper() string {
	if !s.ok() {
		return ""
	}
	bin := s.appendBinary(make([]byte, 0, shareLen+4))
	bin = binary.LittleEndian.AppendUint32(bin, crc32.Checksum(bin, crcTable))
	body := make([]byte, paperEncoding.EncodedLen(len(bin)))
	paperEncoding.Encode(body, bin)
	clear(bin)
	defer clear(body)

	header := paperHeader(s.index, s.count, s.threshold)
	groups := (len(body) + paperGroup - 1) / paperGroup
	var sb strings.Builder
	sb.Grow(len(header) + len(body) + groups) // one separator per group: no regrowth leaves copies behind
	sb.WriteString(header)
	for g := range groups {
		if g%paperGroupsInLine == 0 {
			sb.WriteByte('\n')
		} else {
			sb.WriteByte('-')
		}
		sb.Write(body[g*paperGroup : min((g+1)*paperGroup, len(body))])
	}
	return sb.String()
}

// ParsePaper parses the paper form. It ignores case, spaces, tabs, line
// breaks and dashes; the header line is optional, but if present it must
// match the share. A mistyped, missing or extra character gives
// ErrChecksum, naming the group (and line) to check when exactly one
// single-character fix makes the checksum match; a character outside the
// base32 alphabet gives ErrMalformed naming its position.
func ParsePaper(text string) (*Share, error) { return parsePaper(text, true) }

// parsePaper is ParsePaper; locate false skips naming the mistyped group
// (for tests that try thousands of typos).
func parsePaper(text string, locate bool) (*Share, error) {
	if len(text) > maxPaper {
		return nil, fmt.Errorf("%w: paper share of %d bytes exceeds %d", ErrMalformed, len(text), maxPaper)
	}
	text = strings.TrimSpace(text)
	// The header runs to the first ')'; the body has none.
	var header string
	if end := strings.IndexByte(text, ')'); end >= 0 {
		h := strings.ToUpper(strings.Join(strings.Fields(text[:end+1]), " "))
		if strings.HasPrefix(h, paperHeaderPrefix+" ") {
			header, text = h, text[end+1:]
		}
	}

	body := make([]byte, 0, len(text))
	defer func() { clear(body) }()
	for _, r := range text {
		switch {
		case r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '-':
			continue
		case r >= 'a' && r <= 'z':
			body = append(body, byte(r-'a'+'A'))
		case r >= 'A' && r <= 'Z' || r >= '2' && r <= '7':
			body = append(body, byte(r))
		default:
			// The position counts body characters only, so a holder can find
			// it; the character itself is not quoted.
			return nil, fmt.Errorf("%w: paper share character %d is not in the base32 alphabet (A-Z, 2-7)", ErrMalformed, len(body)+1)
		}
	}

	bin, ok := paperPayload(body)
	if !ok {
		if !locate {
			return nil, ErrChecksum
		}
		return nil, typoError(body)
	}
	defer clear(bin)
	s, err := ParseShare(bin)
	if err != nil {
		return nil, err
	}
	if header != "" && header != paperHeader(s.index, s.count, s.threshold) {
		s.Wipe()
		return nil, fmt.Errorf("%w: paper header does not match the share it heads", ErrMalformed)
	}
	return s, nil
}

// paperPayload decodes a paper body and checks its checksum, returning
// the share's encoding (the caller clears it).
func paperPayload(body []byte) ([]byte, bool) {
	bin := make([]byte, paperEncoding.DecodedLen(len(body)))
	n, err := paperEncoding.Decode(bin, body)
	if err != nil {
		clear(bin)
		return nil, false
	}
	again := make([]byte, paperEncoding.EncodedLen(n))
	paperEncoding.Encode(again, bin[:n])
	canonical := bytes.Equal(again, body)
	clear(again)
	if !canonical || n < 4 || crc32.Checksum(bin[:n-4], crcTable) != binary.LittleEndian.Uint32(bin[n-4:n]) {
		clear(bin)
		return nil, false
	}
	return bin[:n-4], true
}

// typoError is the error for a body whose checksum fails. It tries every
// single-character change, removal and insertion (a few thousand
// checksums); if exactly one position fixes it, it names that group, so
// the holder knows where to look. It never says what the fix is.
func typoError(body []byte) error {
	if len(body) > paperEncoding.EncodedLen(shareLen+4)+1 || len(body) < paperEncoding.EncodedLen(shareLen+4)-1 {
		return fmt.Errorf("%w: %d characters cannot be a share", ErrChecksum, len(body))
	}
	fixes := map[int]bool{} // body positions where one change fixes it
	try := func(pos int, cand []byte) {
		if bin, ok := paperPayload(cand); ok {
			clear(bin)
			fixes[pos] = true
		}
		clear(cand)
	}
	for i := range body {
		for _, c := range []byte(base32Alphabet) {
			if c != body[i] {
				try(i, append(append(append([]byte(nil), body[:i]...), c), body[i+1:]...))
			}
		}
		try(i, append(append([]byte(nil), body[:i]...), body[i+1:]...))
	}
	for i := 0; i <= len(body); i++ {
		for _, c := range []byte(base32Alphabet) {
			try(i, append(append(append([]byte(nil), body[:i]...), c), body[i:]...))
		}
	}
	groups := map[int]bool{}
	for pos := range fixes {
		groups[pos/paperGroup] = true
	}
	if len(groups) != 1 {
		return ErrChecksum
	}
	var g int
	for g = range groups {
	}
	return fmt.Errorf("%w: check group %d (line %d, group %d of the line)", ErrChecksum, g+1, g/paperGroupsInLine+1, g%paperGroupsInLine+1)
}

const base32Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
