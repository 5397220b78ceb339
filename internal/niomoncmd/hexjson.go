package niomoncmd

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"strconv"
	"strings"
)

// The JSON-RPC hex forms of a transaction (eth_signTransaction's object),
// read as strictly as Ethereum clients read them: a quantity is "0x"
// then hex digits without a leading zero ("0x0" for zero), bytes are
// "0x" then an even number of hex digits.

// hexBig is a quantity of up to 256 bits.
type hexBig big.Int

// hexUint64 is a quantity of up to 64 bits.
type hexUint64 uint64

// hexBytes is a byte string.
type hexBytes []byte

var (
	errHexQuantity = errors.New(`want a 0x-prefixed hex quantity without leading zeros, e.g. "0x1f"`)
	errHexBytes    = errors.New(`want 0x-prefixed hex bytes, e.g. "0x00ff"`)
)

func quantityDigits(b []byte) (string, error) {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return "", errHexQuantity
	}
	d, ok := strings.CutPrefix(s, "0x")
	if !ok || d == "" || (len(d) > 1 && d[0] == '0') {
		return "", errHexQuantity
	}
	for _, c := range d {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return "", errHexQuantity
		}
	}
	return d, nil
}

func (x *hexBig) UnmarshalJSON(b []byte) error {
	d, err := quantityDigits(b)
	if err != nil {
		return err
	}
	if len(d) > 64 {
		return errors.New("a quantity over 256 bits")
	}
	v, _ := new(big.Int).SetString(d, 16)
	*x = hexBig(*v)
	return nil
}

func (x *hexUint64) UnmarshalJSON(b []byte) error {
	d, err := quantityDigits(b)
	if err != nil {
		return err
	}
	v, err := strconv.ParseUint(d, 16, 64)
	if err != nil {
		return errors.New("a quantity over 64 bits")
	}
	*x = hexUint64(v)
	return nil
}

func (x *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errHexBytes
	}
	d, ok := strings.CutPrefix(s, "0x")
	if !ok || len(d)%2 != 0 {
		return errHexBytes
	}
	v, err := hex.DecodeString(d)
	if err != nil {
		return errHexBytes
	}
	*x = v
	return nil
}

// hex0x is b as 0x-prefixed hex.
func hex0x(b []byte) string { return "0x" + hex.EncodeToString(b) }
