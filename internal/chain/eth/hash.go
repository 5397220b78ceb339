package eth

import "golang.org/x/crypto/sha3"

// keccak256 is Ethereum's hash: the original Keccak-256 padding, not the
// FIPS 202 SHA3-256 one.
func keccak256(parts ...[]byte) (out [32]byte) {
	h := sha3.NewLegacyKeccak256()
	for _, p := range parts {
		h.Write(p)
	}
	h.Sum(out[:0])
	return out
}
