package btc

import (
	"crypto/sha256"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/bech32"
	"golang.org/x/crypto/ripemd160" //nolint:staticcheck // HASH160 is RIPEMD-160(SHA-256) by BIP141's definition.
)

// Network selects the bech32 human-readable part (HRP) of an address
// (BIP173 "Segwit address format"). The zero Network is invalid.
type Network struct{ hrp string }

// The networks with a segwit HRP. Testnet3, testnet4 and signet all use "tb".
var (
	Mainnet = Network{hrp: "bc"}
	Testnet = Network{hrp: "tb"}
	Regtest = Network{hrp: "bcrt"}
)

// NetworkFromHRP returns the network whose HRP is hrp (lower case).
func NetworkFromHRP(hrp string) (Network, error) {
	switch hrp {
	case Mainnet.hrp:
		return Mainnet, nil
	case Testnet.hrp:
		return Testnet, nil
	case Regtest.hrp:
		return Regtest, nil
	}
	return Network{}, ErrInvalidNetwork
}

// HRP returns the network's bech32 human-readable part ("" for the zero value).
func (n Network) HRP() string { return n.hrp }

func (n Network) valid() bool { return n.hrp != "" }

// Witness program limits (BIP141 "Witness program"; BIP173/BIP350 "Segwit
// address format").
const (
	// MaxAddressLen is the longest segwit address string (BIP173: 90
	// characters).
	MaxAddressLen = 90
	minProgramLen = 2
	maxProgramLen = 40
	maxVersion    = 16
)

// Address is a native segwit output: a witness version (0–16) and a witness
// program of 2 to 40 bytes on a network. Values are comparable with ==.
// The zero Address is invalid and prints as "".
type Address struct {
	net     Network
	version byte
	n       uint8 // program length
	program [maxProgramLen]byte
}

// P2WPKHAddress returns the pay-to-witness-public-key-hash address of pub:
// witness version 0 with program HASH160(compressed pub) (BIP141 "P2WPKH";
// BIP84 uses it for m/84'/…).
func P2WPKHAddress(pub *btcec.PublicKey, net Network) (Address, error) {
	if !validPublicKey(pub) {
		return Address{}, ErrInvalidKey
	}
	if !net.valid() {
		return Address{}, ErrInvalidNetwork
	}
	h := hash160(pub.SerializeCompressed())
	return newAddress(net, 0, h[:]), nil
}

// P2TRAddress returns the pay-to-taproot address for internal key P: witness
// version 1 with program Q, the BIP341 output key (see TaprootOutputKey).
// merkleRoot is the script tree's root, or nil for a key-path-only output as
// BIP86 specifies (m/86'/…).
func P2TRAddress(internal *btcec.PublicKey, merkleRoot *[32]byte, net Network) (Address, error) {
	if !net.valid() {
		return Address{}, ErrInvalidNetwork
	}
	q, err := TaprootOutputKey(internal, merkleRoot)
	if err != nil {
		return Address{}, err
	}
	return newAddress(net, 1, q[:]), nil
}

func newAddress(net Network, version byte, program []byte) Address {
	a := Address{net: net, version: version, n: uint8(len(program))}
	copy(a.program[:], program)
	return a
}

// ParseAddress parses a segwit address of Mainnet, Testnet or Regtest and
// checks every rule of BIP173 and BIP350: at most 90 characters, one case
// (an all-upper-case address is accepted and prints in lower case), a valid
// checksum of the right kind (bech32 for version 0, bech32m for 1–16),
// version ≤ 16, a program of 2–40 bytes (20 or 32 for version 0), and
// padding of at most 4 zero bits.
func ParseAddress(s string) (Address, error) {
	if len(s) > MaxAddressLen {
		return Address{}, fmt.Errorf("%w: longer than %d characters", ErrInvalidAddress, MaxAddressLen)
	}
	// The library's errors repeat parts of the input; ours stay fixed.
	hrp, data, enc, err := bech32.DecodeGeneric(s)
	if err != nil {
		return Address{}, fmt.Errorf("%w: not bech32", ErrInvalidAddress)
	}
	net, err := NetworkFromHRP(hrp)
	if err != nil {
		return Address{}, fmt.Errorf("%w: unknown network", ErrInvalidAddress)
	}
	if len(data) == 0 {
		return Address{}, fmt.Errorf("%w: no witness version", ErrInvalidAddress)
	}
	version := data[0]
	if version > maxVersion {
		return Address{}, fmt.Errorf("%w: witness version above %d", ErrInvalidAddress, maxVersion)
	}
	// BIP350: version 0 uses the bech32 constant, versions 1 to 16 bech32m.
	want := bech32.VersionM
	if version == 0 {
		want = bech32.Version0
	}
	if enc != want {
		return Address{}, fmt.Errorf("%w: wrong checksum variant for the witness version", ErrInvalidAddress)
	}
	program, err := bech32.ConvertBits(data[1:], 5, 8, false)
	if err != nil {
		return Address{}, fmt.Errorf("%w: bad padding", ErrInvalidAddress)
	}
	if len(program) < minProgramLen || len(program) > maxProgramLen {
		return Address{}, fmt.Errorf("%w: witness program not %d to %d bytes", ErrInvalidAddress, minProgramLen, maxProgramLen)
	}
	if version == 0 && len(program) != 20 && len(program) != 32 {
		return Address{}, fmt.Errorf("%w: version 0 program not 20 or 32 bytes", ErrInvalidAddress)
	}
	return newAddress(net, version, program), nil
}

// Network returns the address's network.
func (a Address) Network() Network { return a.net }

// WitnessVersion returns the witness version (0 for P2WPKH, 1 for P2TR).
func (a Address) WitnessVersion() byte { return a.version }

// WitnessProgram returns a copy of the witness program: the key hash for
// P2WPKH, the x-only output key for P2TR.
func (a Address) WitnessProgram() []byte { return append([]byte(nil), a.program[:a.n]...) }

// ScriptPubKey returns the output script the address stands for (BIP141):
// OP_0 or OP_1..OP_16, then a push of the program.
func (a Address) ScriptPubKey() []byte {
	if !a.net.valid() {
		return nil
	}
	op := byte(0x00) // OP_0
	if a.version > 0 {
		op = 0x50 + a.version // OP_1 = 0x51 … OP_16 = 0x60
	}
	return append([]byte{op, a.n}, a.program[:a.n]...)
}

// String returns the address in lower case: bech32 for version 0, bech32m
// for versions 1–16 (BIP350). It returns "" for the zero Address.
func (a Address) String() string {
	if !a.net.valid() {
		return ""
	}
	conv, err := bech32.ConvertBits(a.program[:a.n], 8, 5, true)
	if err != nil {
		return ""
	}
	data := append([]byte{a.version}, conv...)
	var s string
	if a.version == 0 {
		s, err = bech32.Encode(a.net.hrp, data)
	} else {
		s, err = bech32.EncodeM(a.net.hrp, data)
	}
	if err != nil {
		return ""
	}
	return s
}

// hash160 is RIPEMD-160(SHA-256(b)) (BIP141 "HASH160").
func hash160(b []byte) [20]byte {
	s := sha256.Sum256(b)
	r := ripemd160.New()
	r.Write(s[:])
	var out [20]byte
	r.Sum(out[:0])
	return out
}

func validPublicKey(pub *btcec.PublicKey) bool {
	return pub != nil && pub.IsOnCurve()
}
