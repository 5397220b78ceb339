package hd

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcutil/base58"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// A test-only BIP32 extended-key parser. The enclave derives keys from
// seeds and never needs to read an xpub or xprv, so parsing stays out of
// the trusted computing base; here it checks BIP32 vector 5 and the
// structure of what ExtendedPublicKey/ExtendedPrivateKey write.

var (
	errXLength     = errors.New("bad length")
	errXChecksum   = errors.New("bad checksum")
	errXVersion    = errors.New("unknown version")
	errXDepthZero  = errors.New("depth 0 with non-zero parent fingerprint or index")
	errXKeyPrefix  = errors.New("key prefix does not match version")
	errXKeyRange   = errors.New("private key not in 1..n-1")
	errXPointCurve = errors.New("public key not on the curve")
)

type xkey struct {
	version    uint32
	depth      uint8
	parentFP   [4]byte
	childIndex uint32
	chainCode  [32]byte
	keyData    [33]byte
}

func parseExtendedKey(s string) (*xkey, error) {
	b := base58.Decode(s)
	if len(b) != 82 {
		return nil, errXLength
	}
	sum := sha256.Sum256(b[:78])
	sum = sha256.Sum256(sum[:])
	if !bytes.Equal(sum[:4], b[78:]) {
		return nil, errXChecksum
	}
	k := &xkey{
		version:    binary.BigEndian.Uint32(b[0:]),
		depth:      b[4],
		childIndex: binary.BigEndian.Uint32(b[9:]),
	}
	copy(k.parentFP[:], b[5:9])
	copy(k.chainCode[:], b[13:45])
	copy(k.keyData[:], b[45:78])
	if k.depth == 0 && (k.parentFP != [4]byte{} || k.childIndex != 0) {
		return nil, errXDepthZero
	}
	switch k.version {
	case versionXprv:
		if k.keyData[0] != 0x00 {
			return nil, fmt.Errorf("%w: %#02x", errXKeyPrefix, k.keyData[0])
		}
		var s secp256k1.ModNScalar
		if s.SetByteSlice(k.keyData[1:]) || s.IsZero() {
			return nil, errXKeyRange
		}
	case versionXpub:
		if k.keyData[0] != 0x02 && k.keyData[0] != 0x03 {
			return nil, fmt.Errorf("%w: %#02x", errXKeyPrefix, k.keyData[0])
		}
		if _, err := secp256k1.ParsePubKey(k.keyData[:]); err != nil {
			return nil, errXPointCurve
		}
	default:
		return nil, errXVersion
	}
	return k, nil
}
