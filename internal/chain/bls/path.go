package bls

import (
	"fmt"
	"strconv"
	"strings"
)

// EIP-2334 constants and this package's path limits.
const (
	// Purpose is ERC-2334 "Purpose": 12381, the name of the curve.
	Purpose = 12381
	// CoinType is ERC-2334 "Eth2 Specific Parameters", Coin type: 3600.
	CoinType = 3600
	// MinPathDepth is ERC-2334 "Path": m / purpose / coin_type / account /
	// use, "at least 4 (5 including the master node) MUST be used".
	MinPathDepth = 4
	// MaxPathDepth is this package's limit. ERC-2334 gives Ethereum two
	// keys per validator: the withdrawal key m/12381/3600/i/0 (4 levels) and
	// the signing key m/12381/3600/i/0/0 (5 levels). Deeper paths have no
	// meaning for Ethereum, and each level costs two 8,160-byte HKDF
	// expansions, so a request cannot ask for more.
	MaxPathDepth = 5
	// maxPathLen bounds the input before it is split: "m" and five
	// "/4294967295" components.
	maxPathLen = 1 + MaxPathDepth*11
)

// Path is a parsed EIP-2334 path: the child indices after m, starting with
// Purpose and CoinType. Paths from ParsePath, SigningKeyPath and
// WithdrawalKeyPath are valid; DerivePath re-parses its string input.
type Path []uint32

// SigningKeyPath returns m/12381/3600/i/0/0, validator i's signing key
// (ERC-2334 "Validator keys").
func SigningKeyPath(i uint32) Path { return Path{Purpose, CoinType, i, 0, 0} }

// WithdrawalKeyPath returns m/12381/3600/i/0, validator i's withdrawal key
// (ERC-2334 "Validator keys"); the signing key is its child 0.
func WithdrawalKeyPath(i uint32) Path { return Path{Purpose, CoinType, i, 0} }

// ParsePath parses an EIP-2334 path such as "m/12381/3600/0/0/0".
//
// The notation is ERC-2333's ("The Tree Structure") as summarised by
// ERC-2334 ("Notation"): "m", then "/" and a decimal index per level,
// 0 <= index < 2^32. Purpose 12381 paths "do not support hardened keys and
// therefore the ' character is invalid" (ERC-2334 "Backwards
// Compatibility"), so ', h and H are refused. Indices are canonical decimal:
// no sign, no leading zero, ASCII digits only, so that Path.String gives the
// input back. The path must have MinPathDepth..MaxPathDepth levels and start
// with 12381/3600.
func ParsePath(s string) (Path, error) {
	if len(s) > maxPathLen {
		return nil, fmt.Errorf("%w: longer than %d characters", ErrInvalidPath, maxPathLen)
	}
	parts := strings.Split(s, "/")
	if parts[0] != "m" {
		return nil, fmt.Errorf("%w: must start with m/", ErrInvalidPath)
	}
	parts = parts[1:]
	if len(parts) < MinPathDepth || len(parts) > MaxPathDepth {
		return nil, fmt.Errorf("%w: %d levels, want %d to %d", ErrInvalidPath, len(parts), MinPathDepth, MaxPathDepth)
	}
	p := make(Path, len(parts))
	for i, part := range parts {
		v, err := parseIndex(part)
		if err != nil {
			return nil, fmt.Errorf("%w: level %d: %s", ErrInvalidPath, i+1, err)
		}
		p[i] = v
	}
	if p[0] != Purpose {
		return nil, fmt.Errorf("%w: purpose must be %d", ErrInvalidPath, Purpose)
	}
	if p[1] != CoinType {
		return nil, fmt.Errorf("%w: coin type must be %d", ErrInvalidPath, CoinType)
	}
	return p, nil
}

// indexError is the detail of a bad path component; the sentinel wraps it.
type indexError string

func (e indexError) Error() string { return string(e) }

func parseIndex(part string) (uint32, error) {
	switch {
	case part == "":
		return 0, indexError("empty")
	case strings.ContainsAny(part, "'hH"):
		return 0, indexError("hardened notation is not used by EIP-2334")
	}
	for i := 0; i < len(part); i++ {
		if part[i] < '0' || part[i] > '9' {
			return 0, indexError("not a decimal index")
		}
	}
	if len(part) > 1 && part[0] == '0' {
		return 0, indexError("leading zero")
	}
	v, err := strconv.ParseUint(part, 10, 32)
	if err != nil {
		return 0, indexError("index is 2^32 or more")
	}
	return uint32(v), nil
}

// String formats p in EIP-2334 notation, m/12381/3600/…; ParsePath of the
// result gives p back.
func (p Path) String() string {
	var b strings.Builder
	b.WriteString("m")
	for _, v := range p {
		b.WriteByte('/')
		b.WriteString(strconv.FormatUint(uint64(v), 10))
	}
	return b.String()
}

// DerivePath derives the key at an EIP-2334 path from a seed: derive_master_SK
// then derive_child_SK for each level (ERC-2333). The path is parsed before
// any key material is derived, and intermediate keys are wiped.
func DerivePath(seed []byte, path string) (*SecretKey, error) {
	p, err := ParsePath(path)
	if err != nil {
		return nil, err
	}
	sk, err := DeriveMaster(seed)
	if err != nil {
		return nil, err
	}
	for _, index := range p {
		child, err := sk.Child(index)
		sk.Wipe()
		if err != nil {
			return nil, err
		}
		sk = child
	}
	return sk, nil
}
