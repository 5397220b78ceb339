package hd

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/btcsuite/btcd/btcutil/base58"
	"golang.org/x/crypto/ripemd160" //nolint:staticcheck // HASH160 is RIPEMD-160(SHA-256) by BIP32's definition.
)

// BIP32 mainnet version bytes.
const (
	versionXpub uint32 = 0x0488B21E
	versionXprv uint32 = 0x0488ADE4
)

// ExtendedPublicKey returns the BIP32 serialization of the node's public
// key (mainnet "xpub…", base58check). secp256k1 only: BIP32 defines no
// version bytes for the SLIP-10 curves.
func (n *Node) ExtendedPublicKey() (string, error) {
	if err := n.checkBIP32(); err != nil {
		return "", err
	}
	return n.serialize(versionXpub, &n.pub), nil
}

// ExtendedPrivateKey returns the BIP32 serialization of the private node
// (mainnet "xprv…"). It exists to check the node against published vectors.
// The enclave must never return it to a caller, log it or store it: it is
// the whole subtree's private key in one string, and a Go string cannot be
// wiped. Exports leave the enclave only as the HPKE-encrypted mnemonic.
func (n *Node) ExtendedPrivateKey() (string, error) {
	if err := n.checkBIP32(); err != nil {
		return "", err
	}
	var k [33]byte // 0x00 ‖ ser256(k)
	copy(k[1:], n.key[:])
	defer clear(k[:])
	return n.serialize(versionXprv, &k), nil
}

func (n *Node) checkBIP32() error {
	if n == nil || !n.curve.valid() {
		return ErrWiped
	}
	if n.curve != Secp256k1 {
		return fmt.Errorf("%w: BIP32 serialization is defined for secp256k1 only, not %v", ErrUnsupportedCurve, n.curve)
	}
	return nil
}

// serialize writes BIP32's 78-byte layout — version ‖ depth ‖ parent
// fingerprint ‖ child index ‖ chain code ‖ key data — and base58check.
// btcutil's base58.CheckEncode takes a one-byte version, so the double
// SHA-256 checksum is appended here.
func (n *Node) serialize(version uint32, keyData *[33]byte) string {
	var b [82]byte
	defer clear(b[:])
	binary.BigEndian.PutUint32(b[0:], version)
	b[4] = n.depth
	copy(b[5:9], n.parentFP[:])
	binary.BigEndian.PutUint32(b[9:], n.childIndex)
	copy(b[13:45], n.chainCode[:])
	copy(b[45:78], keyData[:])
	sum := sha256.Sum256(b[:78])
	sum = sha256.Sum256(sum[:])
	copy(b[78:], sum[:4])
	return base58.Encode(b[:])
}

// hash160 is RIPEMD-160(SHA-256(b)), BIP32's key identifier.
func hash160(b []byte) []byte {
	s := sha256.Sum256(b)
	r := ripemd160.New()
	r.Write(s[:])
	return r.Sum(nil)
}
