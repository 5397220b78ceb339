package drk

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cloudflare/circl/secretsharing"
)

// generate runs a ceremony or fails the test.
func generate(t testing.TB, threshold, count int) *Split {
	t.Helper()
	sp, err := Generate(threshold, count)
	if err != nil {
		t.Fatalf("Generate(%d, %d): %v", threshold, count, err)
	}
	return sp
}

// subsets returns every subset of shares with at least min elements.
func subsets(shares []*Share, min int) [][]*Share {
	var out [][]*Share
	for mask := 1; mask < 1<<len(shares); mask++ {
		var set []*Share
		for i, s := range shares {
			if mask&(1<<i) != 0 {
				set = append(set, s)
			}
		}
		if len(set) >= min {
			out = append(out, set)
		}
	}
	return out
}

func indices(set []*Share) string {
	var b strings.Builder
	for i, s := range set {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, s.Index())
	}
	return b.String()
}

var (
	testInfo   = []byte("cluster 7f3a… / master key v3")
	testMaster = bytes.Repeat([]byte{0xA5}, 32)
)

func TestAnyThresholdOfSharesRecoversTheDRKAndOpensAnEarlierEscrow(t *testing.T) {
	sp := generate(t, 3, 5)
	// Sealed before any share is used, as the enclave does at key creation.
	escrow, err := Seal(sp.Public, testInfo, testMaster)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	sets := subsets(sp.Shares, 3)
	if len(sets) != 10+5+1 {
		t.Fatalf("got %d subsets, want 16 (10 of 3, 5 of 4, 1 of 5)", len(sets))
	}
	var first [scalarLen]byte
	for n, set := range sets {
		t.Run("shares "+indices(set), func(t *testing.T) {
			k, err := Recover(sp.Public, sp.Commitment, set)
			if err != nil {
				t.Fatalf("Recover: %v", err)
			}
			if !k.Public().Equal(sp.Public) {
				t.Fatalf("rebuilt public key differs from the ceremony's")
			}
			if n == 0 {
				first = k.scalar
			} else if k.scalar != first {
				t.Fatalf("rebuilt DRK differs from the one rebuilt from shares %s", indices(sets[0]))
			}
			got, err := k.Open(testInfo, escrow)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, testMaster) {
				t.Fatalf("Open returned a different secret")
			}
		})
	}
}

func TestRecoverOrderOfSharesDoesNotMatter(t *testing.T) {
	sp := generate(t, 3, 5)
	a, err := Recover(sp.Public, sp.Commitment, []*Share{sp.Shares[4], sp.Shares[0], sp.Shares[2]})
	if err != nil {
		t.Fatalf("Recover(5,1,3): %v", err)
	}
	b, err := Recover(sp.Public, sp.Commitment, []*Share{sp.Shares[2], sp.Shares[4], sp.Shares[0]})
	if err != nil {
		t.Fatalf("Recover(3,5,1): %v", err)
	}
	if a.scalar != b.scalar {
		t.Fatalf("the same shares in another order rebuilt another DRK")
	}
}

// relabel returns a copy of s claiming to belong to the DRK with
// fingerprint fp.
func relabel(s *Share, fp [32]byte) *Share {
	c := *s
	c.drk = fp
	return &c
}

// commitmentFor forges a commitment to DRK fp listing the given shares,
// which must be a whole split in index order.
func commitmentFor(fp [32]byte, shares []*Share) Commitment {
	c := Commitment{drk: fp, threshold: shares[0].threshold, count: len(shares)}
	for _, s := range shares {
		c.shares = append(c.shares, s.Fingerprint())
	}
	return c
}

// withThreshold returns a copy of c claiming another threshold.
func withThreshold(c Commitment, threshold int) Commitment {
	c.threshold = threshold
	return c
}

func TestRecoverRefusesWrongSetsOfShares(t *testing.T) {
	sp := generate(t, 3, 5)
	other := generate(t, 3, 5)
	s := sp.Shares
	fp := sp.Public.Fingerprint()
	forgedCommitment := other.Commitment
	forgedCommitment.drk = fp
	// Another DRK's shares relabelled as ours, with a commitment forged to
	// list them: every share matches, only the public key check is left.
	var relabelled []*Share
	for _, o := range other.Shares {
		relabelled = append(relabelled, relabel(o, fp))
	}
	forgedForRelabelled := commitmentFor(fp, relabelled)
	relabelled = relabelled[:3]
	changedThreshold := *s[1]
	changedThreshold.threshold = 2
	wiped := *s[2]
	wiped.Wipe()
	var tooMany []*Share
	for i := range MaxCount + 1 {
		tooMany = append(tooMany, s[i%len(s)])
	}

	tests := []struct {
		name    string
		pub     PublicKey
		c       Commitment
		shares  []*Share
		want    error
		wantMsg string
	}{
		{"no shares", sp.Public, sp.Commitment, nil, ErrTooFewShares, "0 of the 3"},
		{"one share", sp.Public, sp.Commitment, s[:1], ErrTooFewShares, "1 of the 3"},
		{"two shares", sp.Public, sp.Commitment, s[:2], ErrTooFewShares, "2 of the 3"},
		{"two other shares", sp.Public, sp.Commitment, []*Share{s[4], s[2]}, ErrTooFewShares, "2 of the 3"},
		{"the same share twice and one more", sp.Public, sp.Commitment, []*Share{s[0], s[0], s[1]}, ErrDuplicateShare, "share 1"},
		{"the same share twice among enough", sp.Public, sp.Commitment, []*Share{s[0], s[1], s[2], s[1]}, ErrDuplicateShare, "share 2"},
		{"an equal copy of a share", sp.Public, sp.Commitment, []*Share{s[0], s[1], relabel(s[1], fp)}, ErrDuplicateShare, "share 2"},
		{"a share of another DRK", sp.Public, sp.Commitment, []*Share{s[0], s[1], other.Shares[2]}, ErrWrongDRK, "share 3"},
		{"all shares of another DRK", sp.Public, sp.Commitment, other.Shares[:3], ErrWrongDRK, ""},
		{"the commitment of another DRK", sp.Public, other.Commitment, s[:3], ErrWrongDRK, "commitment"},
		{"the public key of another DRK", other.Public, sp.Commitment, s[:3], ErrWrongDRK, "commitment"},
		{"another DRK's share relabelled as ours", sp.Public, sp.Commitment, []*Share{s[0], s[1], relabel(other.Shares[2], fp)}, ErrBadShare, "share 3"},
		{"another DRK's commitment relabelled as ours", sp.Public, forgedCommitment, s[:3], ErrBadShare, ""},
		{"another DRK's shares relabelled as ours, under the relabelled commitment", sp.Public, forgedCommitment, relabelled, ErrBadShare, ""},
		{"another DRK's shares relabelled as ours, with a commitment forged to list them", sp.Public, forgedForRelabelled, relabelled, ErrWrongDRK, "expected public key"},
		{"a commitment with another threshold", sp.Public, withThreshold(sp.Commitment, 2), s[:3], ErrBadShare, ""},
		{"a share with a changed threshold", sp.Public, sp.Commitment, []*Share{s[0], &changedThreshold, s[2]}, ErrBadShare, "share 2"},
		{"a nil share", sp.Public, sp.Commitment, []*Share{s[0], nil, s[2]}, ErrMalformed, "position 1"},
		{"a wiped share", sp.Public, sp.Commitment, []*Share{s[0], s[1], &wiped}, ErrMalformed, "position 2"},
		{"more shares than any split has", sp.Public, sp.Commitment, tooMany, ErrMalformed, "17 shares"},
		{"no public key", PublicKey{}, sp.Commitment, s[:3], ErrMalformed, ""},
		{"no commitment", sp.Public, Commitment{}, s[:3], ErrMalformed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := Recover(tc.pub, tc.c, tc.shares)
			if k != nil {
				t.Fatalf("got a key, want none")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("got %q, want it to mention %q", err, tc.wantMsg)
			}
		})
	}
}

// TestRecoverNamesEveryTamperedShare flips each of the 256 bits of each
// share's value in turn. Bits are counted from the least significant bit of
// the big-endian scalar; the top bits can push a value past n, which the
// check refuses as well.
func TestRecoverNamesEveryTamperedShare(t *testing.T) {
	sp := generate(t, 3, 5)
	for i := range sp.Shares {
		t.Run(fmt.Sprintf("share %d", i+1), func(t *testing.T) {
			for bit := range 8 * scalarLen {
				bad := *sp.Shares[i]
				bad.value[scalarLen-1-bit/8] ^= 1 << (bit % 8)
				set := append([]*Share(nil), sp.Shares...)
				set[i] = &bad
				k, err := Recover(sp.Public, sp.Commitment, set)
				if k != nil {
					t.Fatalf("bit %d: got a key, want none", bit)
				}
				var be *BadShareError
				if !errors.As(err, &be) || !errors.Is(err, ErrBadShare) {
					t.Fatalf("bit %d: got %v, want a *BadShareError", bit, err)
				}
				if be.Index != i+1 || err.Error() != fmt.Sprintf("drk: share %d does not match the commitment", i+1) {
					t.Fatalf("bit %d: got %q, want it to name share %d", bit, err, i+1)
				}
				// With only threshold shares, one of them tampered, the
				// tampered one is still named rather than a wrong key built.
				if k, err := Recover(sp.Public, sp.Commitment, []*Share{&bad, sp.Shares[(i+1)%5], sp.Shares[(i+2)%5]}); k != nil || !errors.As(err, &be) || be.Index != i+1 {
					t.Fatalf("bit %d, threshold shares: got %v, want share %d named", bit, err, i+1)
				}
			}
		})
	}
}

func TestRecoverReportsEveryBadShare(t *testing.T) {
	sp := generate(t, 3, 5)
	set := append([]*Share(nil), sp.Shares...)
	for _, i := range []int{1, 3} {
		bad := *set[i]
		bad.value[0] ^= 0x01
		set[i] = &bad
	}
	k, err := Recover(sp.Public, sp.Commitment, set)
	if k != nil {
		t.Fatalf("got a key, want none")
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("got %v, want a joined error naming shares 2 and 4", err)
	}
	var named []int
	for _, e := range joined.Unwrap() {
		var be *BadShareError
		if errors.As(e, &be) {
			named = append(named, be.Index)
		}
	}
	if fmt.Sprint(named) != "[2 4]" {
		t.Fatalf("bad shares named: got %v, want [2 4]", named)
	}
}

func TestGenerateAcceptsThresholdsFromTwoToSixteen(t *testing.T) {
	tests := []struct{ threshold, count int }{
		{2, 2}, {2, 3}, {3, 5}, {5, 5}, {2, 16}, {16, 16},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d of %d", tc.threshold, tc.count), func(t *testing.T) {
			sp := generate(t, tc.threshold, tc.count)
			if sp.Threshold != tc.threshold || sp.Count != tc.count || len(sp.Shares) != tc.count ||
				sp.Commitment.Threshold() != tc.threshold || sp.Commitment.Count() != tc.count {
				t.Fatalf("got %d of %d with %d shares", sp.Threshold, sp.Count, len(sp.Shares))
			}
			for i, s := range sp.Shares {
				if s.Index() != i+1 || s.Threshold() != tc.threshold || s.Count() != tc.count || s.DRK() != sp.Public.Fingerprint() {
					t.Fatalf("share %d: got %v for DRK %x", i+1, s, s.DRK())
				}
			}
			escrow, err := Seal(sp.Public, testInfo, testMaster)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			// The last threshold shares, then all of them.
			for _, set := range [][]*Share{sp.Shares[tc.count-tc.threshold:], sp.Shares} {
				k, err := Recover(sp.Public, sp.Commitment, set)
				if err != nil {
					t.Fatalf("Recover(%s): %v", indices(set), err)
				}
				if got, err := k.Open(testInfo, escrow); err != nil || !bytes.Equal(got, testMaster) {
					t.Fatalf("Open after Recover(%s): %v", indices(set), err)
				}
			}
			k, err := Recover(sp.Public, sp.Commitment, sp.Shares[:tc.threshold-1])
			if k != nil || !errors.Is(err, ErrTooFewShares) {
				t.Fatalf("Recover with %d shares: got %v, want ErrTooFewShares", tc.threshold-1, err)
			}
		})
	}
}

func TestGenerateRefusesBadParameters(t *testing.T) {
	tests := []struct{ threshold, count int }{
		{1, 5}, {6, 5}, {17, 17}, {2, 17}, {0, 0}, {1, 1}, {-1, 3}, {3, -1}, {0, 5},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d of %d", tc.threshold, tc.count), func(t *testing.T) {
			sp, err := Generate(tc.threshold, tc.count)
			if sp != nil || !errors.Is(err, ErrParams) {
				t.Fatalf("got %v, want ErrParams", err)
			}
		})
	}
}

func TestCommitmentDoesNotRevealTheSecret(t *testing.T) {
	for _, params := range []struct{ threshold, count int }{{2, 2}, {3, 5}, {16, 16}} {
		t.Run(fmt.Sprintf("%d of %d", params.threshold, params.count), func(t *testing.T) {
			sp := generate(t, params.threshold, params.count)
			k, err := Recover(sp.Public, sp.Commitment, sp.Shares)
			if err != nil {
				t.Fatalf("Recover: %v", err)
			}
			enc, err := sp.Commitment.MarshalBinary()
			if err != nil {
				t.Fatalf("MarshalBinary: %v", err)
			}
			if len(enc) != 39+34*params.count {
				t.Fatalf("commitment is %d bytes, want %d", len(enc), 39+34*params.count)
			}
			// The HPKE IKM is the encoding of the scalar s (the differential
			// test checks this with circl directly); both are listed so that
			// the test says what it covers. Any 8-byte window of either, or
			// of any share value, would be a leak.
			secrets := map[string][]byte{"DRK scalar s": k.scalar[:], "HPKE IKM": ikmForTest(t, k)}
			for _, s := range sp.Shares {
				secrets[fmt.Sprintf("share %d value", s.Index())] = s.value[:]
				b, _ := s.MarshalBinary()
				secrets[fmt.Sprintf("share %d encoding", s.Index())] = b
			}
			for name, secret := range secrets {
				for i := 0; i+8 <= len(secret); i++ {
					if name[len(name)-8:] == "encoding" && i < 36 {
						continue // the public header of a share encoding
					}
					if bytes.Contains(enc, secret[i:i+8]) {
						t.Fatalf("commitment encoding contains bytes %d..%d of the %s", i, i+8, name)
					}
				}
			}
			// What it does contain: the DRK fingerprint and each share's
			// fingerprint, in index order.
			fp := sp.Public.Fingerprint()
			if !bytes.Contains(enc, fp[:]) {
				t.Fatalf("commitment does not name its DRK")
			}
			for i, s := range sp.Shares {
				sf := s.Fingerprint()
				if sp.Commitment.shares[i] != sf || !bytes.Contains(enc, sf[:]) {
					t.Fatalf("commitment entry %d is not share %d's fingerprint", i+1, s.Index())
				}
			}
		})
	}
}

// ikmForTest returns the IKM the HPKE key of k derives from, as the bytes
// Recover passed to DeriveKeyPair, after checking that they do derive it.
func ikmForTest(t *testing.T, k *PrivateKey) []byte {
	t.Helper()
	ikm := bytes.Clone(k.scalar[:])
	priv, err := suiteKEM.DeriveKeyPair(ikm)
	if err != nil || !bytes.Equal(priv.PublicKey().Bytes(), k.Public().Bytes()) {
		t.Fatalf("the key's scalar is not its HPKE IKM: %v", err)
	}
	return ikm
}

// TestRecoverAgreesWithCirclRecover is a differential test: it parses each
// share's binary encoding by hand, rebuilds s with circl's
// secretsharing.Recover directly, and checks that s is the IKM of the key
// Recover rebuilt, for every threshold-sized set of a 3-of-5 split and for
// a 16-of-16 split.
func TestRecoverAgreesWithCirclRecover(t *testing.T) {
	for _, params := range []struct{ threshold, count int }{{3, 5}, {2, 2}, {16, 16}} {
		sp := generate(t, params.threshold, params.count)
		for _, set := range subsets(sp.Shares, params.threshold) {
			if len(set) != params.threshold {
				continue
			}
			t.Run(fmt.Sprintf("%d of %d, shares %s", params.threshold, params.count, indices(set)), func(t *testing.T) {
				k, err := Recover(sp.Public, sp.Commitment, set)
				if err != nil {
					t.Fatalf("Recover: %v", err)
				}
				var parts []secretsharing.Share
				for _, s := range set {
					b, err := s.MarshalBinary()
					if err != nil {
						t.Fatalf("MarshalBinary: %v", err)
					}
					// [0x86, version, 0x58 32 drk, index, threshold, count, 0x58 32 value]
					if len(b) != 73 || b[0] != 0x86 || b[1] != 2 || b[2] != 0x58 || b[3] != 32 || b[39] != 0x58 || b[40] != 32 {
						t.Fatalf("unexpected share layout % x", b[:4])
					}
					id := field.NewScalar().SetUint64(uint64(b[36]))
					v := field.NewScalar()
					if err := v.UnmarshalBinary(b[41:]); err != nil {
						t.Fatalf("share %d value: %v", b[36], err)
					}
					parts = append(parts, secretsharing.Share{ID: id, Value: v})
				}
				sec, err := secretsharing.Recover(uint(params.threshold-1), parts)
				if err != nil {
					t.Fatalf("circl Recover: %v", err)
				}
				ikm, err := sec.MarshalBinary()
				if err != nil || len(ikm) != 32 {
					t.Fatalf("circl scalar encoding: %d bytes, %v", len(ikm), err)
				}
				if sec.IsZero() {
					t.Fatalf("circl rebuilt s = 0")
				}
				priv, err := suiteKEM.DeriveKeyPair(ikm)
				if err != nil {
					t.Fatalf("DeriveKeyPair: %v", err)
				}
				circlPub, err := ParsePublicKey(priv.PublicKey().Bytes())
				if err != nil {
					t.Fatalf("ParsePublicKey: %v", err)
				}
				if !circlPub.Equal(k.Public()) || !circlPub.Equal(sp.Public) {
					t.Fatalf("circl and Recover rebuild different keys")
				}
				if !bytes.Equal(ikm, k.scalar[:]) {
					t.Fatalf("circl and Recover rebuild different scalars")
				}
				// Fewer than threshold shares do not rebuild s under circl
				// either: it refuses them.
				if _, err := secretsharing.Recover(uint(params.threshold-1), parts[1:]); err == nil {
					t.Fatalf("circl rebuilt a secret from %d shares", len(parts)-1)
				}
			})
		}
	}
}

func TestCommitmentEncodingRoundTripsAndIsStrict(t *testing.T) {
	sp := generate(t, 3, 5)
	enc, err := sp.Commitment.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary: %v", err)
	}
	c, err := ParseCommitment(enc)
	if err != nil {
		t.Fatalf("ParseCommitment: %v", err)
	}
	if c.Fingerprint() != sp.Commitment.Fingerprint() || c.Fingerprint() != sha256.Sum256(enc) || c.DRK() != sp.Public.Fingerprint() {
		t.Fatalf("parsed commitment differs from the original")
	}
	if _, err := Recover(sp.Public, c, sp.Shares[:3]); err != nil {
		t.Fatalf("Recover with the parsed commitment: %v", err)
	}

	mutate := func(f func(w *commitmentWire)) []byte {
		var w commitmentWire
		if err := decodeForTest(enc, &w); err != nil {
			t.Fatalf("decode: %v", err)
		}
		f(&w)
		return encodeForTest(t, w)
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"trailing byte", append(bytes.Clone(enc), 0)},
		{"version 0", mutate(func(w *commitmentWire) { w.Version = 0 })},
		{"version 3", mutate(func(w *commitmentWire) { w.Version = 3 })},
		{"short fingerprint", mutate(func(w *commitmentWire) { w.DRK = w.DRK[:31] })},
		{"version 1 (Pedersen)", mutate(func(w *commitmentWire) { w.Version = 1; w.Shares = w.Shares[:3] })},
		{"threshold 1", mutate(func(w *commitmentWire) { w.Threshold = 1 })},
		{"threshold above count", mutate(func(w *commitmentWire) { w.Threshold = 6 })},
		{"count 17", mutate(func(w *commitmentWire) { w.Count = 17 })},
		{"count 4 with 5 fingerprints", mutate(func(w *commitmentWire) { w.Count = 4 })},
		{"a fingerprint missing", mutate(func(w *commitmentWire) { w.Shares = w.Shares[:4] })},
		{"a fingerprint too many", mutate(func(w *commitmentWire) { w.Shares = append(w.Shares, w.Shares[0]) })},
		{"no fingerprints", mutate(func(w *commitmentWire) { w.Shares = nil })},
		{"a short fingerprint", mutate(func(w *commitmentWire) { w.Shares[1] = w.Shares[1][:31] })},
		{"a long fingerprint", mutate(func(w *commitmentWire) { w.Shares[1] = append(w.Shares[1], 0) })},
		{"a fingerprint as text", append(bytes.Clone(enc[:39]), append([]byte{0x78, 32}, enc[41:]...)...)},
		{"non-minimal integer", append([]byte{0x85, 0x18, 0x02}, enc[2:]...)},
		{"non-minimal byte string length", append(append(bytes.Clone(enc[:39]), 0x59, 0x00, 0x20), enc[41:]...)},
		{"indefinite-length array", append(append([]byte{0x9F}, enc[1:]...), 0xFF)},
		{"array of 6", append(append([]byte{0x86}, enc[1:]...), 0x00)},
		{"oversized", make([]byte, maxCommitmentEncoding+1)},
	}
	for n := range len(enc) {
		tests = append(tests, struct {
			name string
			in   []byte
		}{fmt.Sprintf("truncated to %d bytes", n), enc[:n]})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseCommitment(tc.in); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
}

func TestEscrowOpensOnlyWithTheSameInfoAndUntamperedCiphertext(t *testing.T) {
	sp := generate(t, 2, 3)
	k, err := Recover(sp.Public, sp.Commitment, sp.Shares[:2])
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	other := generate(t, 2, 2)
	otherKey, err := Recover(other.Public, other.Commitment, other.Shares)
	if err != nil {
		t.Fatalf("Recover other: %v", err)
	}
	e, err := Seal(sp.Public, testInfo, testMaster)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	got, err := k.Open(testInfo, e)
	if err != nil || !bytes.Equal(got, testMaster) {
		t.Fatalf("Open: %v", err)
	}
	e2, _ := Seal(sp.Public, testInfo, testMaster)
	if bytes.Equal(e, e2) {
		t.Fatalf("two seals of the same secret are equal: HPKE must be randomized")
	}

	flip := func(i int) Escrowed { b := bytes.Clone(e); b[i] ^= 0x01; return b }
	tests := []struct {
		name string
		key  *PrivateKey
		info []byte
		e    Escrowed
	}{
		{"other info", k, []byte("cluster 7f3a… / master key v4"), e},
		{"empty info", k, nil, e},
		{"another DRK", otherKey, testInfo, e},
		{"encapsulated key tampered", k, testInfo, flip(0)},
		{"encapsulated key tampered at its end", k, testInfo, flip(1119)},
		{"ciphertext tampered", k, testInfo, flip(1120)},
		{"tag tampered", k, testInfo, flip(len(e) - 1)},
		{"truncated", k, testInfo, e[:len(e)-1]},
		{"empty", k, testInfo, nil},
		{"extended", k, testInfo, append(bytes.Clone(e), 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.key.Open(tc.info, tc.e)
			if got != nil || !errors.Is(err, ErrOpen) {
				t.Fatalf("got %v, want ErrOpen", err)
			}
		})
	}

	t.Run("wiped key", func(t *testing.T) {
		k.Wipe()
		if k.scalar != [scalarLen]byte{} {
			t.Fatalf("Wipe left the scalar")
		}
		if got, err := k.Open(testInfo, e); got != nil || err == nil {
			t.Fatalf("a wiped key opened the escrow")
		}
	})
	t.Run("limits", func(t *testing.T) {
		if _, err := Seal(sp.Public, make([]byte, MaxInfo+1), testMaster); !errors.Is(err, ErrMalformed) {
			t.Fatalf("oversized info: got %v, want ErrMalformed", err)
		}
		if _, err := Seal(sp.Public, testInfo, make([]byte, MaxEscrowSecret+1)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("oversized secret: got %v, want ErrMalformed", err)
		}
		if _, err := Seal(PublicKey{}, testInfo, testMaster); !errors.Is(err, ErrMalformed) {
			t.Fatalf("zero public key: got %v, want ErrMalformed", err)
		}
	})
}

func TestPublicKeyParsesItsOwnBytesOnly(t *testing.T) {
	sp := generate(t, 2, 2)
	b := sp.Public.Bytes()
	p, err := ParsePublicKey(b)
	if err != nil {
		t.Fatalf("ParsePublicKey: %v", err)
	}
	if !p.Equal(sp.Public) || p.Fingerprint() != sha256.Sum256(b) {
		t.Fatalf("parsed key differs")
	}
	b[0] ^= 1 // Bytes is a copy
	if !sp.Public.Equal(p) {
		t.Fatalf("Bytes exposed the key's own buffer")
	}
	for _, in := range [][]byte{nil, b[:len(b)-1], append(bytes.Clone(b), 0), make([]byte, 32)} {
		if _, err := ParsePublicKey(in); !errors.Is(err, ErrMalformed) {
			t.Fatalf("ParsePublicKey(%d bytes): got %v, want ErrMalformed", len(in), err)
		}
	}
	if (PublicKey{}).Equal(PublicKey{}) {
		t.Fatalf("zero keys compare equal")
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	sp := generate(t, 3, 5)
	k, err := Recover(sp.Public, sp.Commitment, sp.Shares[:3])
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	rk, err := NewRecoveryKey()
	if err != nil {
		t.Fatalf("NewRecoveryKey: %v", err)
	}
	var secrets []string
	add := func(b []byte) {
		// As %x and as fmt prints a byte array ("[12 34 56 78 …").
		secrets = append(secrets, hex.EncodeToString(b[:8]), strings.TrimSuffix(fmt.Sprint(b[:4]), "]"))
	}
	add(k.scalar[:])
	for _, s := range sp.Shares {
		add(s.value[:])
	}
	values := map[string]any{
		"split": sp, "share": sp.Shares[0], "private key": k, "recovery key": rk,
		"dereferenced split": *sp, "dereferenced share": *sp.Shares[1], "dereferenced private key": *k,
		"share slice": sp.Shares, "error wrapping a share": fmt.Errorf("bad: %v", sp.Shares[2]),
	}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d", "%q"} {
			out := fmt.Sprintf(verb, v)
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Fatalf("%s printed with %s shows secret material", name, verb)
				}
			}
		}
	}
}
