package bls

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/consensys/gnark-crypto/ecc/bls12-381/fr"
)

// Seed length limits for DeriveMaster.
const (
	// MinSeedLen is ERC-2333's minimum: "seed, the source entropy for the
	// entire tree, a octet string >= 256 bits in length" (derive_master_SK,
	// Inputs).
	MinSeedLen = 32
	// MaxSeedLen is this package's limit: a BIP39 seed, the source ERC-2333
	// recommends, is 64 bytes. A longer input is a caller's mistake, refused
	// rather than silently accepted.
	MaxSeedLen = 64
)

const (
	// keygenSalt is ERC-2333 "HKDF_mod_r", Definitions: the ASCII string
	// "BLS-SIG-KEYGEN-SALT-" (20 octets).
	keygenSalt = "BLS-SIG-KEYGEN-SALT-"
	// hkdfModRLen is L = ceil((3 * ceil(log2(r))) / 16) = 48.
	hkdfModRLen = 48
	// keyInfoL is key_info || I2OSP(L, 2) with key_info = "".
	keyInfoL = "\x00\x30"
	// lamportChunks and lamportLen are ERC-2333 "IKM_to_lamport_SK",
	// Definitions: K = 32 (the SHA-256 digest size) and L = K * 255, the
	// most HKDF-SHA256 can expand to.
	lamportChunks = 255
	lamportLen    = sha256.Size * lamportChunks
)

// DeriveMaster is ERC-2333 derive_master_SK: SK = HKDF_mod_r(seed). The seed
// must be MinSeedLen..MaxSeedLen bytes; the caller keeps ownership of it.
func DeriveMaster(seed []byte) (*SecretKey, error) {
	if len(seed) < MinSeedLen || len(seed) > MaxSeedLen {
		return nil, fmt.Errorf("%w: %d bytes, want %d to %d", ErrInvalidSeed, len(seed), MinSeedLen, MaxSeedLen)
	}
	sk := new(SecretKey)
	// 0. SK = HKDF_mod_r(seed)
	if err := hkdfModR(seed, &sk.b); err != nil {
		return nil, err
	}
	return sk, nil
}

// Child is ERC-2333 derive_child_SK: the child at index of sk. ERC-2333 has
// no hardened/non-hardened distinction: every index 0 <= index < 2^32 is
// valid and every child is, in BIP32 terms, hardened (it needs the parent's
// secret key).
func (sk *SecretKey) Child(index uint32) (*SecretKey, error) {
	if !sk.valid() {
		return nil, ErrWiped
	}
	// 0. compressed_lamport_PK = parent_SK_to_lamport_PK(parent_SK, index)
	var lpk [sha256.Size]byte
	defer clear(lpk[:])
	if err := parentSKToLamportPK(&sk.b, index, &lpk); err != nil {
		return nil, err
	}
	// 1. SK = HKDF_mod_r(compressed_lamport_PK)
	child := new(SecretKey)
	if err := hkdfModR(lpk[:], &child.b); err != nil {
		return nil, err
	}
	return child, nil
}

// parentSKToLamportPK is ERC-2333 parent_SK_to_lamport_PK. It writes the
// compressed Lamport public key, which is secret here: it is the input
// keying material of the child key.
func parentSKToLamportPK(parent *[SecretKeySize]byte, index uint32, out *[sha256.Size]byte) error {
	// 0. salt = I2OSP(index, 4)
	var salt [4]byte
	binary.BigEndian.PutUint32(salt[:], index)
	// 1. IKM = I2OSP(parent_SK, 32): the key is already kept that way.
	ikm := *parent
	defer clear(ikm[:])

	// Steps 5–8 concatenate 510 SHA-256 digests into lamport_PK and hash
	// the result; streaming the digests into one SHA-256 gives the same
	// compressed_lamport_PK without a 16,320-byte buffer of secret data.
	lamportPK := sha256.New()
	var digest [sha256.Size]byte
	defer clear(digest[:])
	hashChunks := func(lamportSK []byte) {
		for i := 0; i < lamportChunks; i++ {
			// lamport_PK = lamport_PK | SHA256(lamport_x[i])
			digest = sha256.Sum256(lamportSK[i*sha256.Size : (i+1)*sha256.Size])
			lamportPK.Write(digest[:])
		}
	}

	// 2. lamport_0 = IKM_to_lamport_SK(IKM, salt)
	lamport0, err := ikmToLamportSK(ikm[:], salt[:])
	if err != nil {
		return err
	}
	// 6. for i in 1, .., 255: lamport_PK = lamport_PK | SHA256(lamport_0[i])
	hashChunks(lamport0)
	clear(lamport0)

	// 3. not_IKM = flip_bits(IKM)
	for i := range ikm {
		ikm[i] = ^ikm[i]
	}
	// 4. lamport_1 = IKM_to_lamport_SK(not_IKM, salt)
	lamport1, err := ikmToLamportSK(ikm[:], salt[:])
	if err != nil {
		return err
	}
	// 7. for i in 1, .., 255: lamport_PK = lamport_PK | SHA256(lamport_1[i])
	hashChunks(lamport1)
	clear(lamport1)

	// 8. compressed_lamport_PK = SHA256(lamport_PK)
	lamportPK.Sum(out[:0])
	lamportPK.Reset()
	return nil
}

// ikmToLamportSK is ERC-2333 IKM_to_lamport_SK. It returns lamport_SK as
// its 255 32-byte chunks laid end to end (step 2, bytes_split, is left to
// the caller's indexing). The caller clears the result.
func ikmToLamportSK(ikm, salt []byte) ([]byte, error) {
	// 0. PRK = HKDF-Extract(salt, IKM)
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, fmt.Errorf("%w: HKDF-Extract", errInternal)
	}
	defer clear(prk)
	// 1. OKM = HKDF-Expand(PRK, "", L)
	okm, err := hkdf.Expand(sha256.New, prk, "", lamportLen)
	if err != nil {
		return nil, fmt.Errorf("%w: HKDF-Expand", errInternal)
	}
	// 2. lamport_SK = bytes_split(OKM, K)
	return okm, nil
}

// hkdfModR is ERC-2333 HKDF_mod_r with key_info = "" (the only key_info
// ERC-2333 uses); it equals KeyGen of draft-irtf-cfrg-bls-signature-04 and
// later. It writes SK, 0 < SK < r, big-endian into out.
func hkdfModR(ikm []byte, out *[SecretKeySize]byte) error {
	// IKM || I2OSP(0, 1), built once for every iteration.
	ikm0 := make([]byte, len(ikm)+1)
	copy(ikm0, ikm)
	defer clear(ikm0)

	// 1. salt = "BLS-SIG-KEYGEN-SALT-"
	salt := []byte(keygenSalt)
	// 2. SK = 0
	// 3. while SK == 0:
	// The loop runs again only if OKM mod r is 0, probability about 2^-255;
	// it is written out because the specification requires it.
	for {
		// 4. salt = H(salt)
		h := sha256.Sum256(salt)
		salt = h[:]
		// 5. PRK = HKDF-Extract(salt, IKM || I2OSP(0, 1))
		prk, err := hkdf.Extract(sha256.New, ikm0, salt)
		if err != nil {
			return fmt.Errorf("%w: HKDF-Extract", errInternal)
		}
		// 6. OKM = HKDF-Expand(PRK, key_info || I2OSP(L, 2), L)
		okm, err := hkdf.Expand(sha256.New, prk, keyInfoL, hkdfModRLen)
		clear(prk)
		if err != nil {
			return fmt.Errorf("%w: HKDF-Expand", errInternal)
		}
		// 7. SK = OS2IP(OKM) mod r
		sk := os2ipModR((*[hkdfModRLen]byte)(okm))
		clear(okm)
		*out = sk.Bytes()
		sk.SetZero()
		if !isZero(out) {
			// 8. return SK
			return nil
		}
	}
}

// two128 is 2^128 as an element of the scalar field: (2^32)^4.
var two128 = func() (e fr.Element) {
	e.SetUint64(1 << 32)
	e.Square(&e).Square(&e)
	return e
}()

// os2ipModR is OS2IP(OKM) mod r for the 48-byte OKM of HKDF_mod_r, computed
// in the scalar field rather than with math/big so that no secret passes
// through big.Int division: OKM = a·2^256 + b·2^128 + c with 16-byte limbs
// a, b, c (each below 2^128 < r), so OKM mod r = (a·2^128 + b)·2^128 + c in
// the field.
func os2ipModR(okm *[hkdfModRLen]byte) fr.Element {
	var limb [fr.Bytes]byte
	var z, t fr.Element
	for i := 0; i < hkdfModRLen; i += 16 {
		copy(limb[fr.Bytes-16:], okm[i:i+16])
		// A 16-byte value is below r: BigEndian.Element cannot fail.
		t, _ = fr.BigEndian.Element(&limb)
		z.Mul(&z, &two128).Add(&z, &t)
	}
	clear(limb[:])
	t.SetZero()
	return z
}
