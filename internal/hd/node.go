package hd

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
)

// Node is an extended private key: a private key and its chain code, with
// the BIP32 metadata needed to serialise it. It is secret. Key and chain
// code live in fixed arrays so that Wipe can clear them; Clone copies them.
// A Node is not changed by any method but Wipe, so it may be read from
// several goroutines.
type Node struct {
	curve      Curve // 0 for the zero value and after Wipe
	depth      uint8
	parentFP   [4]byte
	childIndex uint32
	chainCode  [32]byte
	key        [32]byte // secp256k1/nist256p1 scalar; ed25519 RFC 8032 seed
	pub        [33]byte // SLIP-10 form, see publicKey
}

// NewMaster derives the master node of seed on curve c (SLIP-10 "master key
// generation"; for secp256k1 this is BIP32's).
//
// For secp256k1 and nist256p1 a master key with parse256(IL) = 0 or ≥ n is
// invalid. BIP32 stops there; SLIP-10 retries with I as the HMAC data. We
// retry on both curves: on secp256k1 no seed is known to need it (odds about
// 2^-128), so BIP32 compatibility is unaffected, and the rule makes every
// seed usable. The "seed retry" vector of SLIP-10 exercises it on nist256p1.
func NewMaster(seed *Seed, c Curve) (*Node, error) {
	if seed == nil || seed.n < minSeedLen {
		return nil, fmt.Errorf("%w: nil or wiped", ErrInvalidSeed)
	}
	hk, ok := c.seedKey()
	if !ok {
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedCurve, c)
	}
	var I [64]byte
	defer clear(I[:])
	hmacSHA512(hk, seed.bytes(), &I)

	n := &Node{curve: c}
	if c == Ed25519 {
		copy(n.key[:], I[:32])
	} else {
		var zero [32]byte
		for !addScalar(c, (*[32]byte)(I[:32]), &zero, &n.key) {
			hmacSHA512(hk, I[:], &I)
		}
	}
	copy(n.chainCode[:], I[32:])
	if err := publicKey(c, &n.key, &n.pub); err != nil {
		n.Wipe()
		return nil, err
	}
	return n, nil
}

// Child derives the child with index i (i ≥ Hardened for a hardened child)
// by private derivation: BIP32 CKDpriv on secp256k1, SLIP-10 on the others.
//
// Invalid keys (parse256(IL) ≥ n or a zero child key, odds about 2^-128 on
// secp256k1, 2^-32 on nist256p1) are handled as each spec says:
//   - secp256k1: BIP32 declares the child invalid and tells wallets to skip
//     to the next index, so Child returns ErrInvalidChild and the caller
//     moves on. Retrying here, as SLIP-10 does, would give a key no other
//     BIP32 wallet derives.
//   - nist256p1: SLIP-10 retries with HMAC(c, 0x01‖IR‖ser32(i)).
//
// ed25519 allows hardened indexes only (SLIP-10): a non-hardened i returns
// ErrHardenedOnly.
func (n *Node) Child(i uint32) (*Node, error) { return n.child(i, true) }

// child is Child; withPub false skips computing the child's public key, a
// scalar multiplication. Only Derive uses that, for intermediate nodes no
// later step reads the public key of (see Derive). Such a node never
// leaves this package.
func (n *Node) child(i uint32, withPub bool) (*Node, error) {
	if n == nil || !n.curve.valid() {
		return nil, ErrWiped
	}
	if n.depth == maxDepth {
		return nil, fmt.Errorf("%w: depth would exceed %d", ErrInvalidPath, maxDepth)
	}
	hardened := i&Hardened != 0
	if n.curve == Ed25519 && !hardened {
		return nil, fmt.Errorf("%w: %v, index %d", ErrHardenedOnly, n.curve, i)
	}

	// data = 0x00 ‖ ser256(kpar) ‖ ser32(i) when hardened,
	//        serP(point(kpar)) ‖ ser32(i) otherwise.
	var data [37]byte
	defer clear(data[:])
	if hardened {
		copy(data[1:33], n.key[:])
	} else {
		copy(data[:33], n.pub[:])
	}
	binary.BigEndian.PutUint32(data[33:], i)
	var I [64]byte
	defer clear(I[:])
	hmacSHA512(n.chainCode[:], data[:], &I)

	child := &Node{
		curve:      n.curve,
		depth:      n.depth + 1,
		parentFP:   n.Fingerprint(),
		childIndex: i,
	}
	switch n.curve {
	case Ed25519:
		copy(child.key[:], I[:32])
	case Secp256k1:
		if !addScalar(n.curve, (*[32]byte)(I[:32]), &n.key, &child.key) {
			child.Wipe()
			return nil, fmt.Errorf("%w: index %d", ErrInvalidChild, i)
		}
	case NIST256p1:
		for !addScalar(n.curve, (*[32]byte)(I[:32]), &n.key, &child.key) {
			data[0] = 0x01
			copy(data[1:33], I[32:])
			hmacSHA512(n.chainCode[:], data[:], &I)
		}
	}
	copy(child.chainCode[:], I[32:])
	if !withPub {
		return child, nil
	}
	if err := publicKey(child.curve, &child.key, &child.pub); err != nil {
		child.Wipe()
		return nil, err
	}
	return child, nil
}

// Derive derives the node at path p below n by successive Child calls and
// wipes every intermediate node. The result is a new Node, also for the
// empty path; n is unchanged. An error names the failing component.
func (n *Node) Derive(p Path) (*Node, error) {
	if n == nil || !n.curve.valid() {
		return nil, ErrWiped
	}
	if int(n.depth)+len(p) > maxDepth {
		return nil, fmt.Errorf("%w: depth would exceed %d", ErrInvalidPath, maxDepth)
	}
	cur := n.Clone()
	for k, i := range p {
		// A node's public key is read only by its non-hardened child (as
		// HMAC data) and, for the result's parent, as the parent
		// fingerprint. Skipping it elsewhere saves a scalar multiplication
		// per hardened step: m/44'/60'/0'/0/i needs 3 instead of 5.
		last := k == len(p)-1
		withPub := last || k == len(p)-2 || p[k+1]&Hardened == 0
		next, err := cur.child(i, withPub)
		cur.Wipe()
		if err != nil {
			return nil, fmt.Errorf("%w (path component %d)", err, k+1)
		}
		cur = next
	}
	return cur, nil
}

// hmacSHA512 writes HMAC-SHA512(key, data) to out. data may alias out.
func hmacSHA512(key, data []byte, out *[64]byte) {
	mac := hmac.New(sha512.New, key)
	mac.Write(data)
	mac.Sum(out[:0])
}

// Curve returns the node's curve (0 after Wipe).
func (n *Node) Curve() Curve { return n.curve }

// Depth returns the number of derivations from the master node (0).
func (n *Node) Depth() uint8 { return n.depth }

// ChildIndex returns the index this node was derived with (0 for a master).
func (n *Node) ChildIndex() uint32 { return n.childIndex }

// ParentFingerprint returns the parent's Fingerprint (zero for a master).
func (n *Node) ParentFingerprint() [4]byte { return n.parentFP }

// PublicKey returns the public key: 33-byte SEC1 compressed for secp256k1
// and nist256p1, the 32-byte RFC 8032 key for ed25519. It returns nil after
// Wipe.
func (n *Node) PublicKey() []byte {
	switch n.curve {
	case Ed25519:
		return append([]byte(nil), n.pub[1:]...)
	case Secp256k1, NIST256p1:
		return append([]byte(nil), n.pub[:]...)
	}
	return nil
}

// PublicKeySLIP10 returns the public key as SLIP-10 writes it and hashes it
// for fingerprints: always 33 bytes, ed25519 keys with a 0x00 prefix. It
// returns nil after Wipe.
func (n *Node) PublicKeySLIP10() []byte {
	if !n.curve.valid() {
		return nil
	}
	return append([]byte(nil), n.pub[:]...)
}

// Fingerprint returns the key identifier's first 4 bytes: HASH160 of the
// compressed public key (BIP32), for ed25519 of 0x00‖A (SLIP-10).
func (n *Node) Fingerprint() [4]byte {
	var fp [4]byte
	if n.curve.valid() {
		h := hash160(n.pub[:])
		copy(fp[:], h[:4])
	}
	return fp
}

// Clone returns an independent copy of n (wipe both when done).
func (n *Node) Clone() *Node {
	if n == nil {
		return nil
	}
	c := *n
	return &c
}

// Wipe zeroes the key, the chain code and every other field. The Node is
// unusable afterwards: its methods return ErrWiped, nil or zero values.
func (n *Node) Wipe() {
	if n == nil {
		return
	}
	*n = Node{} // zeroes key and chainCode in place (fixed arrays)
}
