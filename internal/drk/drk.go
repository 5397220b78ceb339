package drk

import (
	"bytes"
	"crypto/hpke"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/niomon/niomon/internal/wire"
)

// The HPKE suite of the escrow and the recovery transport (see the package
// comment for why the hybrid KEM).
var (
	suiteKEM  = hpke.MLKEM768X25519()
	suiteKDF  = hpke.HKDFSHA256()
	suiteAEAD = hpke.AES256GCM()
)

// Domain-separation labels. The HPKE info of each use is label ‖ 0x00 ‖ the
// caller's info, so an escrow can never be opened as a recovery share or
// the other way round. Changing one breaks every existing ciphertext.
const (
	labelEscrow   = "niomon/drk/v1/escrow"
	labelRecovery = "niomon/drk/v1/recovery-share"
)

func labelled(label string, info []byte) []byte {
	b := make([]byte, 0, len(label)+1+len(info))
	b = append(b, label...)
	b = append(b, 0)
	return append(b, info...)
}

// PublicKey is the DRK public key: an HPKE MLKEM768-X25519 public key.
// Its zero value is not a key.
type PublicKey struct {
	b []byte
	k hpke.PublicKey
}

// ParsePublicKey parses the HPKE serialization of an MLKEM768-X25519 public
// key (1216 bytes).
func ParsePublicKey(b []byte) (PublicKey, error) {
	k, err := suiteKEM.NewPublicKey(b)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%w: not an MLKEM768-X25519 public key (%d bytes)", ErrMalformed, len(b))
	}
	return PublicKey{b: bytes.Clone(b), k: k}, nil
}

// Bytes returns the HPKE serialization of the key.
func (p PublicKey) Bytes() []byte { return bytes.Clone(p.b) }

// Fingerprint returns SHA-256 of Bytes. It names the DRK in shares,
// commitments and transcripts.
func (p PublicKey) Fingerprint() [32]byte { return sha256.Sum256(p.b) }

// String names the key by the start of its fingerprint.
func (p PublicKey) String() string {
	if len(p.b) == 0 {
		return "drk.PublicKey{}"
	}
	fp := p.Fingerprint()
	return fmt.Sprintf("drk.PublicKey{sha256:%x…}", fp[:8])
}

// Equal reports whether p and q are the same non-zero key.
func (p PublicKey) Equal(q PublicKey) bool {
	return len(p.b) != 0 && subtle.ConstantTimeCompare(p.b, q.b) == 1
}

// Commitment is the public record of a split: for each share index i, the
// SHA-256 fingerprint of share i's canonical encoding (Share.Fingerprint),
// with the fingerprint of the DRK it belongs to and the threshold and count
// of the split. It holds no secret: each share value is a uniformly random
// scalar, so its hash says nothing about it (see the package comment). Its
// zero value is not a commitment.
type Commitment struct {
	drk              [32]byte
	threshold, count int
	shares           [][32]byte // len(shares) == count; shares[i] is share i+1's fingerprint
}

const commitmentVersion = 2

// commitmentWire is the CBOR form: a deterministic array
// [version 2, drk fingerprint, threshold, count, [H_1, …, H_count]], each
// H_i = SHA-256(encoding of share i), a 32-byte string.
type commitmentWire struct {
	_         struct{} `cbor:",toarray"`
	Version   uint64
	DRK       []byte
	Threshold uint64
	Count     uint64
	Shares    [][]byte
}

// MarshalBinary returns the canonical CBOR encoding of c.
func (c Commitment) MarshalBinary() ([]byte, error) {
	if len(c.shares) == 0 {
		return nil, fmt.Errorf("%w: empty commitment", ErrMalformed)
	}
	w := commitmentWire{
		Version:   commitmentVersion,
		DRK:       c.drk[:],
		Threshold: uint64(c.threshold),
		Count:     uint64(c.count),
		Shares:    make([][]byte, len(c.shares)),
	}
	for i := range c.shares {
		w.Shares[i] = c.shares[i][:]
	}
	return wire.Marshal(w)
}

// UnmarshalBinary parses a commitment strictly: only the canonical encoding
// of a well-formed commitment is accepted.
func (c *Commitment) UnmarshalBinary(b []byte) error {
	if len(b) > maxCommitmentEncoding {
		return fmt.Errorf("%w: commitment of %d bytes exceeds %d", ErrMalformed, len(b), maxCommitmentEncoding)
	}
	var w commitmentWire
	if err := wire.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("%w: commitment is not a CBOR commitment array", ErrMalformed)
	}
	if w.Version != commitmentVersion {
		return fmt.Errorf("%w: commitment version %d, want %d", ErrMalformed, w.Version, commitmentVersion)
	}
	if len(w.DRK) != 32 {
		return fmt.Errorf("%w: commitment DRK fingerprint of %d bytes", ErrMalformed, len(w.DRK))
	}
	if err := checkParams(w.Threshold, w.Count); err != nil {
		return fmt.Errorf("%w: commitment: %w", ErrMalformed, err)
	}
	if uint64(len(w.Shares)) != w.Count {
		return fmt.Errorf("%w: commitment has %d share fingerprints for %d shares", ErrMalformed, len(w.Shares), w.Count)
	}
	out := Commitment{threshold: int(w.Threshold), count: int(w.Count), shares: make([][32]byte, len(w.Shares))}
	copy(out.drk[:], w.DRK)
	for i, h := range w.Shares {
		if len(h) != 32 {
			return fmt.Errorf("%w: commitment fingerprint of share %d has %d bytes", ErrMalformed, i+1, len(h))
		}
		copy(out.shares[i][:], h)
	}
	canon, err := out.MarshalBinary()
	if err != nil || !bytes.Equal(canon, b) {
		return fmt.Errorf("%w: commitment encoding is not canonical", ErrMalformed)
	}
	*c = out
	return nil
}

// ParseCommitment is UnmarshalBinary as a function.
func ParseCommitment(b []byte) (Commitment, error) {
	var c Commitment
	err := c.UnmarshalBinary(b)
	return c, err
}

// Fingerprint returns SHA-256 of the canonical encoding (zero for the zero
// Commitment).
func (c Commitment) Fingerprint() [32]byte {
	b, err := c.MarshalBinary()
	if err != nil {
		return [32]byte{}
	}
	return sha256.Sum256(b)
}

// DRK returns the fingerprint of the DRK public key c belongs to.
func (c Commitment) DRK() [32]byte { return c.drk }

// Threshold returns k, the number of shares needed.
func (c Commitment) Threshold() int { return c.threshold }

// Count returns n, the number of shares made.
func (c Commitment) Count() int { return c.count }

// verify reports whether s is a well-formed share with c's parameters
// whose fingerprint is c's entry for its index.
func (c *Commitment) verify(s *Share) bool {
	if !s.ok() || s.threshold != c.threshold || s.count != c.count || s.index > len(c.shares) {
		return false
	}
	fp := s.Fingerprint()
	return subtle.ConstantTimeCompare(fp[:], c.shares[s.index-1][:]) == 1
}

// Split is the result of a ceremony.
type Split struct {
	Public           PublicKey  // the DRK public key (HPKE MLKEM768-X25519)
	Commitment       Commitment // the share fingerprints (public)
	Threshold, Count int
	Shares           []*Share // secret; one per holder, Shares[i].Index() == i+1
}

// Wipe wipes every share.
func (s *Split) Wipe() {
	for _, sh := range s.Shares {
		sh.Wipe()
	}
}

// checkParams enforces MinThreshold ≤ threshold ≤ count ≤ MaxCount.
func checkParams[T int | uint64](threshold, count T) error {
	if threshold < MinThreshold || threshold > count || count > MaxCount {
		return fmt.Errorf("%w: %d of %d (want %d ≤ threshold ≤ count ≤ %d)", ErrParams, threshold, count, MinThreshold, MaxCount)
	}
	return nil
}

// Generate makes a new DRK and splits it threshold of count, with
// MinThreshold ≤ threshold ≤ count ≤ MaxCount. The DRK private key exists
// only inside this call; the caller encrypts each share to its holder
// (EncryptShareForHolder), publishes Public and Commitment, and wipes the
// Split.
func Generate(threshold, count int) (*Split, error) {
	if err := checkParams(threshold, count); err != nil {
		return nil, err
	}
	var secret [scalarLen]byte // the DRK secret s: the HPKE IKM
	defer clear(secret[:])
	values := make([][scalarLen]byte, count)
	defer clear(values)
	if err := split(&secret, values, threshold); err != nil {
		return nil, err
	}
	priv, err := suiteKEM.DeriveKeyPair(secret[:])
	if err != nil {
		return nil, fmt.Errorf("drk: derive key pair: %w", err)
	}
	pk := priv.PublicKey()
	sp := &Split{
		Public:     PublicKey{b: pk.Bytes(), k: pk},
		Commitment: Commitment{threshold: threshold, count: count, shares: make([][32]byte, count)},
		Threshold:  threshold,
		Count:      count,
		Shares:     make([]*Share, count),
	}
	fp := sp.Public.Fingerprint()
	sp.Commitment.drk = fp
	for i := range values {
		sh := &Share{drk: fp, index: i + 1, threshold: threshold, count: count, value: values[i]}
		sp.Shares[i] = sh
		sp.Commitment.shares[i] = sh.Fingerprint()
	}
	return sp, nil
}

// PrivateKey is the rebuilt DRK: the shared scalar and the HPKE
// MLKEM768-X25519 private key derived from it.
type PrivateKey struct {
	scalar [scalarLen]byte // the HPKE IKM
	k      hpke.PrivateKey
	pub    PublicKey
}

// Public returns the key's public key.
func (k *PrivateKey) Public() PublicKey { return k.pub }

// Wipe zeroes the scalar and drops the HPKE key. crypto/hpke keeps its key
// material in unexported fields that cannot be zeroed; dropping the
// reference is as far as Go allows. A wiped key opens nothing.
func (k *PrivateKey) Wipe() {
	clear(k.scalar[:])
	k.k = nil
}

// Format prints a redacted description for every verb.
func (k PrivateKey) Format(f fmt.State, _ rune) {
	fmt.Fprint(f, "drk.PrivateKey{redacted}")
}

// Recover rebuilds the DRK from shares.
//
// Every share is checked before anything is rebuilt: a share made for
// another DRK gives ErrWrongDRK; a share whose fingerprint is not the
// commitment's entry for its index (tampered, corrupted, or with the wrong
// parameters) gives a *BadShareError naming it (errors.Is(err,
// ErrBadShare)); when several shares are bad, the errors are joined. Then
// the same index twice gives ErrDuplicateShare, and fewer distinct shares
// than the threshold give ErrTooFewShares. Finally the rebuilt key's public
// key must equal pub (ErrWrongDRK). Any threshold-sized set of valid shares
// works; extra valid shares are checked and otherwise ignored. On error no
// key is returned.
func Recover(pub PublicKey, c Commitment, shares []*Share) (*PrivateKey, error) {
	if pub.k == nil {
		return nil, fmt.Errorf("%w: no DRK public key", ErrMalformed)
	}
	if len(c.shares) == 0 {
		return nil, fmt.Errorf("%w: empty commitment", ErrMalformed)
	}
	if len(shares) > MaxCount {
		return nil, fmt.Errorf("%w: %d shares, a split has at most %d", ErrMalformed, len(shares), MaxCount)
	}
	fp := pub.Fingerprint()
	if c.drk != fp {
		return nil, fmt.Errorf("%w: the commitment is for another DRK", ErrWrongDRK)
	}

	var bad []error
	for pos, s := range shares {
		switch {
		case s == nil || s.index == 0:
			bad = append(bad, fmt.Errorf("%w: share at position %d is nil or wiped", ErrMalformed, pos))
		case s.drk != fp:
			bad = append(bad, fmt.Errorf("%w: share %d is for another DRK", ErrWrongDRK, s.index))
		case !c.verify(s):
			bad = append(bad, &BadShareError{Index: s.index})
		}
	}
	if len(bad) == 1 {
		return nil, bad[0]
	}
	if len(bad) > 1 {
		return nil, errors.Join(bad...)
	}

	var byIndex [MaxCount + 1]*Share
	for _, s := range shares {
		if byIndex[s.index] != nil {
			return nil, fmt.Errorf("%w: share %d given more than once", ErrDuplicateShare, s.index)
		}
		byIndex[s.index] = s
	}
	if len(shares) < c.threshold {
		return nil, fmt.Errorf("%w: %d of the %d needed", ErrTooFewShares, len(shares), c.threshold)
	}

	// Interpolate s = f(0) from the first threshold shares (by index).
	xs := make([]int, 0, c.threshold)
	vs := make([]*[scalarLen]byte, 0, c.threshold)
	for i := 1; i <= MaxCount && len(xs) < c.threshold; i++ {
		if byIndex[i] != nil {
			xs = append(xs, i)
			vs = append(vs, &byIndex[i].value)
		}
	}
	k := new(PrivateKey)
	if err := combine(&k.scalar, xs, vs); err != nil {
		k.Wipe()
		return nil, err
	}
	priv, err := suiteKEM.DeriveKeyPair(k.scalar[:])
	if err != nil {
		k.Wipe()
		return nil, fmt.Errorf("drk: derive key pair: %w", err)
	}
	got := PublicKey{b: priv.PublicKey().Bytes(), k: priv.PublicKey()}
	if !got.Equal(pub) {
		k.Wipe()
		return nil, fmt.Errorf("%w: the shares rebuild a key other than the expected public key", ErrWrongDRK)
	}
	k.k, k.pub = priv, got
	return k, nil
}

// maxEscrowed bounds the escrow Open reads: the largest secret, the X-Wing
// encapsulated key (1120 bytes) and the AEAD tag, with room to spare.
const maxEscrowed = MaxEscrowSecret + 2048

// Escrowed is an HPKE single-shot ciphertext (encapsulated key ‖ AEAD
// ciphertext) of a secret sealed to the DRK.
type Escrowed []byte

// Seal escrows secret to the DRK: HPKE base mode, single shot, suite
// MLKEM768-X25519 / HKDF-SHA256 / AES-256-GCM, with HPKE info
// "niomon/drk/v1/escrow" ‖ 0x00 ‖ info. info binds the context (for example
// cluster identity and master-key version); Open must be given the same
// info.
func Seal(pub PublicKey, info, secret []byte) (Escrowed, error) {
	if pub.k == nil {
		return nil, fmt.Errorf("%w: no DRK public key", ErrMalformed)
	}
	if len(info) > MaxInfo {
		return nil, fmt.Errorf("%w: info of %d bytes exceeds %d", ErrMalformed, len(info), MaxInfo)
	}
	if len(secret) > MaxEscrowSecret {
		return nil, fmt.Errorf("%w: secret of %d bytes exceeds %d", ErrMalformed, len(secret), MaxEscrowSecret)
	}
	ct, err := hpke.Seal(pub.k, suiteKDF, suiteAEAD, labelled(labelEscrow, info), secret)
	if err != nil {
		return nil, fmt.Errorf("drk: seal: %w", err)
	}
	return Escrowed(ct), nil
}

// Open decrypts an escrow sealed with the same info. The caller wipes the
// result. Any failure is ErrOpen.
func (k *PrivateKey) Open(info []byte, e Escrowed) ([]byte, error) {
	if k == nil || k.k == nil {
		return nil, fmt.Errorf("%w: DRK private key is wiped", ErrMalformed)
	}
	if len(info) > MaxInfo || len(e) > maxEscrowed {
		return nil, fmt.Errorf("%w: info or escrow exceeds its limit", ErrOpen)
	}
	pt, err := hpke.Open(k.k, suiteKDF, suiteAEAD, labelled(labelEscrow, info), e)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}
