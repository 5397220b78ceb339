package eth

import (
	"encoding/hex"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// Address is a 20-byte Ethereum account address.
type Address [20]byte

// AddressFromPublicKey returns the address of a secp256k1 public key: the
// last 20 bytes of keccak256 of its 64-byte uncompressed X‖Y encoding
// (Yellow Paper, Appendix F).
func AddressFromPublicKey(pub *secp256k1.PublicKey) Address {
	h := keccak256(pub.SerializeUncompressed()[1:])
	var a Address
	copy(a[:], h[12:])
	return a
}

// String returns the EIP-55 checksummed form, "0x" and 40 hex digits whose
// letters are upper case where the matching nibble of
// keccak256(lower-case hex) is 8 or more (https://eips.ethereum.org/EIPS/eip-55).
func (a Address) String() string {
	var buf [42]byte
	buf[0], buf[1] = '0', 'x'
	hex.Encode(buf[2:], a[:])
	h := keccak256(buf[2:])
	for i := 2; i < len(buf); i++ {
		c := buf[i]
		if c < 'a' {
			continue // a digit has no case
		}
		nibble := h[(i-2)/2]
		if i%2 == 0 {
			nibble >>= 4
		}
		if nibble&0xf >= 8 {
			buf[i] = c - ('a' - 'A')
		}
	}
	return string(buf[:])
}

// ParseAddress parses "0x" followed by 40 hex digits. All-lower-case and
// all-upper-case digits are accepted as they carry no checksum; a mixed-case
// address must carry a correct EIP-55 checksum, else ErrAddressChecksum.
func ParseAddress(s string) (Address, error) {
	a, err := parseAddressAnyCase(s)
	if err != nil {
		return Address{}, err
	}
	hasLower, hasUpper := false, false
	for i := 2; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'f':
			hasLower = true
		case 'A' <= c && c <= 'F':
			hasUpper = true
		}
	}
	if hasLower && hasUpper && a.String() != s {
		return Address{}, ErrAddressChecksum
	}
	return a, nil
}

// parseAddressAnyCase parses "0x" and 40 hex digits without checking an
// EIP-55 checksum.
func parseAddressAnyCase(s string) (Address, error) {
	if len(s) != 42 || s[0] != '0' || s[1] != 'x' {
		return Address{}, fmt.Errorf("%w: want 0x and 40 hex digits", ErrInvalidAddress)
	}
	var a Address
	if _, err := hex.Decode(a[:], []byte(s[2:])); err != nil {
		return Address{}, fmt.Errorf("%w: not hexadecimal", ErrInvalidAddress)
	}
	return a, nil
}
