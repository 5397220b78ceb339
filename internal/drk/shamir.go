package drk

import (
	"crypto/rand"
	"errors"

	"github.com/cloudflare/circl/group"
	"github.com/cloudflare/circl/secretsharing"
)

// Shamir sharing over the scalar field of P-256, by circl's secretsharing
// (see the package comment). Only scalars are used: no point is computed
// or published. A scalar is an integer mod n, the order of P-256, and its
// canonical encoding (group.Scalar.MarshalBinary) is 32 bytes big-endian,
// less than n. Shares and the rebuilt secret are kept as that encoding
// ([scalarLen]byte), which is what is stored, encoded and wiped; circl
// scalars exist only inside split and combine.

const scalarLen = 32

var field = group.P256

// wipeScalar zeroes a circl scalar in place. It uses CMov: for group.P256
// in circl v1.6.3, SetUint64 and Set first grow the scalar's byte slice,
// which reallocates a full one, so they would zero a fresh copy and leave
// the old bytes behind (TestWipeScalarZeroesInPlace pins this).
func wipeScalar(s group.Scalar) {
	if s != nil {
		s.CMov(1, field.NewScalar())
	}
}

// loadScalar returns the scalar with canonical encoding b, or false if
// b ≥ n. The caller wipes it.
func loadScalar(b *[scalarLen]byte) (group.Scalar, bool) {
	x := field.NewScalar()
	if x.UnmarshalBinary(b[:]) != nil {
		// circl copies the bytes before the range check.
		wipeScalar(x)
		return nil, false
	}
	return x, true
}

// storeScalar writes the canonical encoding of x to dst.
func storeScalar(dst *[scalarLen]byte, x group.Scalar) bool {
	b, err := x.MarshalBinary()
	defer clear(b)
	if err != nil || len(b) != scalarLen {
		return false
	}
	copy(dst[:], b)
	return true
}

// validScalar reports whether b < n.
func validScalar(b *[scalarLen]byte) bool {
	x, ok := loadScalar(b)
	wipeScalar(x)
	return ok
}

var errInternal = errors.New("drk: internal error in the Shamir split")

// split draws the DRK secret s, a uniformly random non-zero scalar, writes
// its encoding to secret, and writes the values f(1) … f(count) of a random
// polynomial f of degree threshold-1 with f(0) = s to values.
func split(secret *[scalarLen]byte, values [][scalarLen]byte, threshold int) error {
	s := field.RandomNonZeroScalar(rand.Reader)
	defer wipeScalar(s)
	ss := secretsharing.New(rand.Reader, uint(threshold-1), s)
	parts := ss.Share(uint(len(values)))
	defer wipeShares(parts)
	if len(parts) != len(values) || !storeScalar(secret, s) {
		return errInternal
	}
	id := field.NewScalar()
	for i, p := range parts {
		// circl numbers the shares 1..count; the encoding relies on it.
		if !p.ID.IsEqual(id.SetUint64(uint64(i+1))) || !storeScalar(&values[i], p.Value) {
			return errInternal
		}
	}
	// Self-check: the last threshold shares rebuild s. A split that does
	// not must never reach a holder.
	back, err := secretsharing.Recover(uint(threshold-1), parts[len(parts)-threshold:])
	defer wipeScalar(back)
	if err != nil || !back.IsEqual(s) {
		return errInternal
	}
	return nil
}

// combine rebuilds s = f(0) from threshold shares with distinct indices
// 1..MaxCount and values < n, and writes its encoding to secret.
func combine(secret *[scalarLen]byte, indices []int, values []*[scalarLen]byte) error {
	parts := make([]secretsharing.Share, len(indices))
	defer wipeShares(parts)
	for i, x := range indices {
		v, ok := loadScalar(values[i])
		if !ok {
			return errInternal
		}
		parts[i] = secretsharing.Share{ID: field.NewScalar().SetUint64(uint64(x)), Value: v}
	}
	s, err := secretsharing.Recover(uint(len(parts)-1), parts)
	defer wipeScalar(s)
	if err != nil || !storeScalar(secret, s) {
		return errInternal
	}
	return nil
}

func wipeShares(parts []secretsharing.Share) {
	for _, p := range parts {
		wipeScalar(p.Value)
	}
}
