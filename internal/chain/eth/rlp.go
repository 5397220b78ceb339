package eth

import "encoding/binary"

// RLP encoding (Ethereum Yellow Paper, Appendix B;
// https://ethereum.org/developers/docs/data-structures-and-encoding/rlp),
// only the two shapes transactions use:
//
//   - a byte string: a single byte below 0x80 is itself; otherwise 0x80+len
//     then the bytes (len ≤ 55), or 0xb7+len(len) then len big-endian then
//     the bytes;
//   - a list: 0xc0+len then the concatenated items (len ≤ 55), or
//     0xf7+len(len) then len then the items.
//
// Integers are byte strings holding their big-endian form without leading
// zeros (zero is the empty string, 0x80).

// rlpString appends the RLP encoding of the byte string b.
func rlpString(dst, b []byte) []byte {
	if len(b) == 1 && b[0] < 0x80 {
		return append(dst, b[0])
	}
	dst = rlpHeader(dst, 0x80, len(b))
	return append(dst, b...)
}

// rlpUint appends the RLP encoding of an unsigned integer.
func rlpUint(dst []byte, v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return rlpString(dst, trimZeros(b[:]))
}

// rlpList appends the RLP list whose concatenated, already encoded items are
// payload.
func rlpList(dst, payload []byte) []byte {
	dst = rlpHeader(dst, 0xc0, len(payload))
	return append(dst, payload...)
}

// rlpHeader appends the prefix of a string (base 0x80) or list (base 0xc0)
// of n payload bytes.
func rlpHeader(dst []byte, base byte, n int) []byte {
	if n <= 55 {
		return append(dst, base+byte(n))
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	l := trimZeros(b[:])
	dst = append(dst, base+55+byte(len(l)))
	return append(dst, l...)
}

// trimZeros drops leading zero bytes.
func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	return b
}
