package hd

import (
	"encoding/binary"
	"fmt"
)

// A Node can be written out whole, for one use: the enclave seals a
// wallet's master nodes and the parents of its default accounts with the
// wallet, so that a wallet loaded from storage derives an address's key
// in one step instead of five (each step with a public key costs a scalar
// multiplication). The bytes are the node's secret key and chain code:
// they are only ever sealed, never stored or sent in the clear.
//
// Layout (sealedNodeLen bytes): version, curve, depth, parent
// fingerprint (4), child index (4, big-endian), chain code (32), key (32),
// public key in SLIP-10 form (33).
const (
	sealedNodeVersion = 1
	sealedNodeLen     = 1 + 1 + 1 + 4 + 4 + 32 + 32 + 33
)

// AppendSealed appends n's sealed form to b. The caller wipes the result
// after sealing it.
func (n *Node) AppendSealed(b []byte) []byte {
	b = append(b, sealedNodeVersion, byte(n.curve), n.depth)
	b = append(b, n.parentFP[:]...)
	b = binary.BigEndian.AppendUint32(b, n.childIndex)
	b = append(b, n.chainCode[:]...)
	b = append(b, n.key[:]...)
	return append(b, n.pub[:]...)
}

// ParseSealedNode reads a node written by AppendSealed. Its public key is
// taken as written, not recomputed: only bytes that an enclave sealed and
// that authenticated may be given to it.
func ParseSealedNode(b []byte) (*Node, error) {
	if len(b) != sealedNodeLen || b[0] != sealedNodeVersion || !Curve(b[1]).valid() || int(b[2]) > maxDepth {
		return nil, fmt.Errorf("%w: not a sealed node", ErrInvalidSeed)
	}
	n := &Node{curve: Curve(b[1]), depth: b[2]}
	copy(n.parentFP[:], b[3:7])
	n.childIndex = binary.BigEndian.Uint32(b[7:11])
	copy(n.chainCode[:], b[11:43])
	copy(n.key[:], b[43:75])
	copy(n.pub[:], b[75:])
	return n, nil
}
