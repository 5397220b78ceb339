package hd

import (
	"fmt"
	"strconv"
	"strings"
)

// Hardened is added to an index for hardened derivation (BIP32: i ≥ 2^31).
const Hardened uint32 = 0x80000000

// Limits on paths. BIP32 serialises depth in one byte, so no key is deeper
// than 255; 1024 characters is far above any real path (255 components of
// "2147483647'" would need 2,830) and bounds the work done on untrusted
// input before it is rejected.
const (
	maxDepth   = 255
	maxPathLen = 1024
)

// Path is a BIP32 derivation path: the child indexes below the master key,
// hardened ones with the Hardened bit set.
type Path []uint32

// ParsePath parses a path such as "m", "m/44'/60'/0'/0/7" or "m/44h/60H".
// The hardened marker is ', h or H. It is strict, so that one path has one
// spelling (policies compare paths): every component is decimal digits
// without sign, space or leading zero, below 2^31 before its marker; at most
// 255 components and 1024 characters.
func ParsePath(s string) (Path, error) {
	if len(s) > maxPathLen {
		return nil, fmt.Errorf("%w: longer than %d characters", ErrInvalidPath, maxPathLen)
	}
	if s == "m" {
		return Path{}, nil
	}
	rest, ok := strings.CutPrefix(s, "m/")
	if !ok {
		return nil, fmt.Errorf("%w: must be \"m\" or start with \"m/\"", ErrInvalidPath)
	}
	parts := strings.Split(rest, "/")
	if len(parts) > maxDepth {
		return nil, fmt.Errorf("%w: %d components, at most %d", ErrInvalidPath, len(parts), maxDepth)
	}
	p := make(Path, len(parts))
	for k, part := range parts {
		i, err := parseIndex(part)
		if err != nil {
			return nil, fmt.Errorf("%w: component %d: %s", ErrInvalidPath, k+1, err)
		}
		p[k] = i
	}
	return p, nil
}

// parseIndex parses one path component. Its errors are plain text; the
// caller adds the sentinel and the position.
func parseIndex(part string) (uint32, error) {
	digits, hardened := part, false
	if n := len(part); n > 0 && (part[n-1] == '\'' || part[n-1] == 'h' || part[n-1] == 'H') {
		digits, hardened = part[:n-1], true
	}
	if digits == "" {
		return 0, fmt.Errorf("empty index")
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("unexpected character %q", r)
		}
	}
	if len(digits) > 1 && digits[0] == '0' {
		return 0, fmt.Errorf("leading zero")
	}
	v, err := strconv.ParseUint(digits, 10, 32)
	if err != nil || v >= uint64(Hardened) {
		return 0, fmt.Errorf("index must be below 2^31 (2147483648); mark hardened indexes with '")
	}
	if hardened {
		v |= uint64(Hardened)
	}
	return uint32(v), nil
}

// String returns the canonical form of p, with ' as the hardened marker.
func (p Path) String() string {
	var b strings.Builder
	b.WriteByte('m')
	for _, i := range p {
		b.WriteByte('/')
		b.WriteString(strconv.FormatUint(uint64(i&^Hardened), 10))
		if i&Hardened != 0 {
			b.WriteByte('\'')
		}
	}
	return b.String()
}

// Hardened reports whether every component is hardened, i.e. whether the
// path can be derived on ed25519 and whether knowing an xpub above it
// reveals nothing below it. It is true for the empty path "m".
func (p Path) Hardened() bool {
	for _, i := range p {
		if i&Hardened == 0 {
			return false
		}
	}
	return true
}
