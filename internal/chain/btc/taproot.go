package btc

import (
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// XOnlyPublicKey is a BIP340 public key: the 32-byte big-endian x coordinate
// of the point with that x and an even y.
type XOnlyPublicKey [32]byte

// XOnly returns bytes(P) of BIP340: the x coordinate of pub. Whether pub's y is
// even or odd, the BIP340 key is the even-y point with that x.
func XOnly(pub *btcec.PublicKey) (XOnlyPublicKey, error) {
	if !validPublicKey(pub) {
		return XOnlyPublicKey{}, ErrInvalidKey
	}
	return XOnlyPublicKey(schnorr.SerializePubKey(pub)), nil
}

// TaprootOutputKey returns the BIP341 output key Q for internal key P
// (BIP341 taproot_tweak_pubkey, BIP86 "Address derivation"):
//
//	t = int(hash_TapTweak(bytes(P) ‖ merkle_root)), fail if t ≥ n
//	Q = lift_x(bytes(P)) + t·G, fail if Q is infinity
//
// merkleRoot nil means no script tree: the hash covers bytes(P) alone, which
// commits to an unspendable script path (BIP341 footnote, BIP86).
func TaprootOutputKey(internal *btcec.PublicKey, merkleRoot *[32]byte) (XOnlyPublicKey, error) {
	if !validPublicKey(internal) {
		return XOnlyPublicKey{}, ErrInvalidKey
	}
	var p btcec.JacobianPoint
	internal.AsJacobian(&p)
	// lift_x: of the two points with this x, BIP340 means the one with even y.
	if p.Y.IsOdd() {
		p.Y.Negate(1).Normalize()
	}
	var px [32]byte
	p.X.PutBytes(&px)
	t, err := tapTweak(&px, merkleRoot)
	if err != nil {
		return XOnlyPublicKey{}, err
	}
	var tG, q btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&t, &tG)
	btcec.AddNonConst(&p, &tG, &q)
	q.ToAffine() // infinity (Z = 0) comes out as (0, 0), which is not on the curve
	if q.X.IsZero() && q.Y.IsZero() {
		return XOnlyPublicKey{}, ErrInvalidTweak
	}
	var out XOnlyPublicKey
	q.X.PutBytes((*[32]byte)(&out))
	return out, nil
}

// tapTweak returns int(hash_TapTweak(px ‖ merkle_root)) (BIP341), or
// ErrInvalidTweak if it is not below the group order n.
func tapTweak(px *[32]byte, merkleRoot *[32]byte) (btcec.ModNScalar, error) {
	var h *chainhash.Hash
	if merkleRoot == nil {
		h = chainhash.TaggedHash(chainhash.TagTapTweak, px[:])
	} else {
		h = chainhash.TaggedHash(chainhash.TagTapTweak, px[:], merkleRoot[:])
	}
	var t btcec.ModNScalar
	if overflow := t.SetBytes((*[32]byte)(h)); overflow != 0 {
		return btcec.ModNScalar{}, ErrInvalidTweak
	}
	return t, nil
}

// tweakPrivateKey returns the BIP341 key-path signing key
// (taproot_tweak_seckey):
//
//	P = d·G; d' = d if has_even_y(P) else n − d
//	t = int(hash_TapTweak(bytes(P) ‖ merkle_root)), fail if t ≥ n
//	return (d' + t) mod n, fail if zero
//
// Its public key is the output key Q of TaprootOutputKey. The caller must
// Zero the result.
func tweakPrivateKey(priv *btcec.PrivateKey, merkleRoot *[32]byte) (*btcec.PrivateKey, error) {
	pub := priv.PubKey().SerializeCompressed() // 0x02 = even y, 0x03 = odd y
	d := priv.Key
	if pub[0] == 0x03 {
		d.Negate()
	}
	t, err := tapTweak((*[32]byte)(pub[1:]), merkleRoot)
	if err != nil {
		d.Zero()
		return nil, err
	}
	d.Add(&t)
	if d.IsZero() {
		return nil, ErrInvalidTweak
	}
	k := btcec.PrivKeyFromScalar(&d)
	d.Zero()
	return k, nil
}
