package hd

import "strconv"

// Curve selects the SLIP-10 curve of a key tree.
type Curve int

// The curves of SLIP-10. Secp256k1 is BIP32 itself. (SLIP-10's curve25519
// is not supported: nothing in Niomon uses X25519 keys from a seed.)
const (
	Secp256k1 Curve = iota + 1
	Ed25519
	NIST256p1
)

// String returns the curve's SLIP-10 name.
func (c Curve) String() string {
	switch c {
	case Secp256k1:
		return "secp256k1"
	case Ed25519:
		return "ed25519"
	case NIST256p1:
		return "nist256p1"
	}
	return "Curve(" + strconv.Itoa(int(c)) + ")"
}

// seedKey is the HMAC-SHA512 key of the master-key generation, per SLIP-10
// ("Bitcoin seed" is BIP32's, so secp256k1 trees match BIP32 wallets).
func (c Curve) seedKey() ([]byte, bool) {
	switch c {
	case Secp256k1:
		return []byte("Bitcoin seed"), true
	case Ed25519:
		return []byte("ed25519 seed"), true
	case NIST256p1:
		return []byte("Nist256p1 seed"), true
	}
	return nil, false
}

func (c Curve) valid() bool { return c >= Secp256k1 && c <= NIST256p1 }
