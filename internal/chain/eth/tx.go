package eth

import (
	"fmt"
	"math"
	"math/big"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// Transaction types (EIP-2718, https://eips.ethereum.org/EIPS/eip-2718).
const (
	// LegacyTxType is a pre-EIP-2718 transaction, signed with EIP-155 replay
	// protection unless its chain id is 0.
	LegacyTxType uint8 = 0
	// AccessListTxType is an EIP-2930 transaction
	// (https://eips.ethereum.org/EIPS/eip-2930).
	AccessListTxType uint8 = 1
	// DynamicFeeTxType is an EIP-1559 transaction
	// (https://eips.ethereum.org/EIPS/eip-1559).
	DynamicFeeTxType uint8 = 2
)

// Quantity is an unsigned integer of up to 256 bits as big-endian bytes
// without leading zeros; zero is the empty string. This is already the RLP
// form, so it is encoded unchanged, and a CBOR byte string decodes into it
// with no conversion.
//
// In a Tx, nil means the field is absent and a non-nil empty Quantity is an
// explicit zero (CBOR null or no key decodes to nil, an empty byte string to
// empty). Validate uses the difference to tell a forgotten field from a zero.
type Quantity []byte

// Validate checks the canonical form: at most 32 bytes, no leading zero.
func (q Quantity) Validate() error {
	if len(q) > 32 {
		return fmt.Errorf("%w: quantity over 32 bytes", ErrInvalidTx)
	}
	if len(q) > 0 && q[0] == 0 {
		return fmt.Errorf("%w: quantity has a leading zero byte", ErrInvalidTx)
	}
	return nil
}

// Big returns q as a big.Int (0 for nil or empty).
func (q Quantity) Big() *big.Int { return new(big.Int).SetBytes(q) }

// IsZero reports whether q is zero (nil or empty).
func (q Quantity) IsZero() bool { return len(q) == 0 }

// QuantityFromUint64 returns v as a present (non-nil) Quantity.
func QuantityFromUint64(v uint64) Quantity {
	return append(Quantity{}, new(big.Int).SetUint64(v).Bytes()...)
}

// QuantityFromBig returns x as a present (non-nil) Quantity, or an error if
// x is nil, negative or over 256 bits.
func QuantityFromBig(x *big.Int) (Quantity, error) {
	if x == nil || x.Sign() < 0 || x.BitLen() > 256 {
		return nil, fmt.Errorf("%w: quantity must be in [0, 2^256)", ErrInvalidTx)
	}
	return append(Quantity{}, x.Bytes()...), nil
}

// AccessTuple is one entry of an EIP-2930 access list.
type AccessTuple struct {
	Address     []byte   `cbor:"address"`      // 20 bytes
	StorageKeys [][]byte `cbor:"storage_keys"` // each 32 bytes
}

// Tx is an unsigned Ethereum transaction of type 0 (legacy), 1 (EIP-2930) or
// 2 (EIP-1559). The enclave decodes it straight from CBOR request params.
//
// Fields by type (Validate enforces it; "required" means non-nil, so a zero
// must be sent as an empty byte string, not left out):
//
//	              chain_id  gas_price  max_priority_fee_per_gas  access_list
//	                                   max_fee_per_gas
//	type 0        required  required   absent                    absent
//	type 1        required  required   absent                    optional
//	type 2        required  absent     required                  optional
//
// chain_id is required even for legacy transactions because its zero has a
// meaning of its own: chain id 0 on a legacy transaction signs it the
// pre-EIP-155 way, replayable on every chain, and that should never happen
// because a client forgot the field. Typed transactions carry the chain id in
// the payload; 0 is encodable there (ethers signs it) and no network accepts
// it. nonce, gas, value and data may be left out (zero, empty). to absent or
// empty is a contract creation, otherwise exactly 20 bytes.
type Tx struct {
	Type                 uint8         `cbor:"type"`
	ChainID              Quantity      `cbor:"chain_id"`
	Nonce                uint64        `cbor:"nonce"`
	GasPrice             Quantity      `cbor:"gas_price"`
	MaxPriorityFeePerGas Quantity      `cbor:"max_priority_fee_per_gas"`
	MaxFeePerGas         Quantity      `cbor:"max_fee_per_gas"`
	Gas                  uint64        `cbor:"gas"`
	To                   []byte        `cbor:"to"`
	Value                Quantity      `cbor:"value"`
	Data                 []byte        `cbor:"data"`
	AccessList           []AccessTuple `cbor:"access_list"`
}

// SignedTx is a signed transaction ready for eth_sendRawTransaction.
type SignedTx struct {
	// Raw is the network encoding: RLP for legacy, type ‖ RLP for typed
	// transactions.
	Raw []byte
	// Hash is the transaction hash, keccak256(Raw).
	Hash [32]byte
}

// Validate checks the fields for the transaction's type (see Tx).
func (tx *Tx) Validate() error {
	if tx == nil {
		return fmt.Errorf("%w: nil transaction", ErrInvalidTx)
	}
	if tx.Type > DynamicFeeTxType {
		return fmt.Errorf("%w: unsupported type %d", ErrInvalidTx, tx.Type)
	}
	quantities := []struct {
		name string
		q    Quantity
		want bool // required (true) or forbidden (false); value is neither
	}{
		{"chain_id", tx.ChainID, true},
		{"gas_price", tx.GasPrice, tx.Type != DynamicFeeTxType},
		{"max_priority_fee_per_gas", tx.MaxPriorityFeePerGas, tx.Type == DynamicFeeTxType},
		{"max_fee_per_gas", tx.MaxFeePerGas, tx.Type == DynamicFeeTxType},
	}
	for _, f := range quantities {
		if present := f.q != nil; present != f.want {
			if f.want {
				return fmt.Errorf("%w: type %d needs %s (an empty byte string for 0)", ErrInvalidTx, tx.Type, f.name)
			}
			return fmt.Errorf("%w: type %d has no %s", ErrInvalidTx, tx.Type, f.name)
		}
		if err := f.q.Validate(); err != nil {
			return fmt.Errorf("%w (%s)", err, f.name)
		}
	}
	if err := tx.Value.Validate(); err != nil {
		return fmt.Errorf("%w (value)", err)
	}
	if tx.Nonce == math.MaxUint64 {
		return fmt.Errorf("%w: nonce 2^64-1 is invalid (EIP-2681)", ErrInvalidTx)
	}
	if len(tx.To) != 0 && len(tx.To) != 20 {
		return fmt.Errorf("%w: to must be 20 bytes or empty, got %d", ErrInvalidTx, len(tx.To))
	}
	if tx.Type == LegacyTxType && tx.AccessList != nil {
		return fmt.Errorf("%w: type 0 has no access_list", ErrInvalidTx)
	}
	for i, t := range tx.AccessList {
		if len(t.Address) != 20 {
			return fmt.Errorf("%w: access_list[%d].address must be 20 bytes", ErrInvalidTx, i)
		}
		for j, k := range t.StorageKeys {
			if len(k) != 32 {
				return fmt.Errorf("%w: access_list[%d].storage_keys[%d] must be 32 bytes", ErrInvalidTx, i, j)
			}
		}
	}
	return nil
}

// SigningHash validates the transaction and returns the digest to sign:
//
//	type 0, chain id 0:  keccak256(rlp([nonce, gasPrice, gas, to, value, data]))
//	type 0, chain id c:  keccak256(rlp([nonce, gasPrice, gas, to, value, data, c, 0, 0]))   (EIP-155)
//	type 1:              keccak256(0x01 ‖ rlp([chainId, nonce, gasPrice, gas, to, value, data, accessList]))   (EIP-2930)
//	type 2:              keccak256(0x02 ‖ rlp([chainId, nonce, maxPriorityFeePerGas, maxFeePerGas, gas, to, value, data, accessList]))   (EIP-1559)
func (tx *Tx) SigningHash() ([32]byte, error) {
	if err := tx.Validate(); err != nil {
		return [32]byte{}, err
	}
	return keccak256(tx.signingPayload()), nil
}

// signingPayload is the preimage of SigningHash, for a validated tx.
func (tx *Tx) signingPayload() []byte {
	fields := tx.appendFields(nil)
	if tx.Type == LegacyTxType {
		if !tx.ChainID.IsZero() {
			fields = rlpString(fields, tx.ChainID)
			fields = append(fields, 0x80, 0x80) // EIP-155: chainId, 0, 0
		}
		return rlpList(nil, fields)
	}
	return rlpList([]byte{tx.Type}, fields)
}

// Assemble validates the transaction and returns it signed with sig, which
// must be a signature over SigningHash. The signature goes in as
//
//	type 0, chain id 0:  [..., v = 27 + V, r, s]
//	type 0, chain id c:  [..., v = c·2 + 35 + V, r, s]   (EIP-155)
//	types 1 and 2:       [..., yParity = V, r, s]
//
// with r and s as integers (leading zeros dropped).
func (tx *Tx) Assemble(sig Signature) (SignedTx, error) {
	if err := tx.Validate(); err != nil {
		return SignedTx{}, err
	}
	if sig.V > 1 {
		return SignedTx{}, fmt.Errorf("%w: v must be 0 or 1", ErrInvalidSignature)
	}
	fields := tx.appendFields(nil)
	switch {
	case tx.Type != LegacyTxType:
		fields = rlpUint(fields, uint64(sig.V))
	case tx.ChainID.IsZero():
		fields = rlpUint(fields, 27+uint64(sig.V))
	default:
		v := new(big.Int).Lsh(tx.ChainID.Big(), 1)
		v.Add(v, big.NewInt(35+int64(sig.V)))
		fields = rlpString(fields, v.Bytes())
	}
	fields = rlpString(fields, trimZeros(sig.R[:]))
	fields = rlpString(fields, trimZeros(sig.S[:]))
	var raw []byte
	if tx.Type != LegacyTxType {
		raw = []byte{tx.Type}
	}
	raw = rlpList(raw, fields)
	return SignedTx{Raw: raw, Hash: keccak256(raw)}, nil
}

// Sign signs the transaction with key (SigningHash, SignDigest, Assemble).
func (tx *Tx) Sign(key *secp256k1.PrivateKey) (SignedTx, error) {
	h, err := tx.SigningHash()
	if err != nil {
		return SignedTx{}, err
	}
	sig, err := SignDigest(key, h)
	if err != nil {
		return SignedTx{}, err
	}
	return tx.Assemble(sig)
}

// appendFields appends the RLP items every form of the transaction shares
// (all but the EIP-155 suffix and the signature).
func (tx *Tx) appendFields(dst []byte) []byte {
	if tx.Type != LegacyTxType {
		dst = rlpString(dst, tx.ChainID)
	}
	dst = rlpUint(dst, tx.Nonce)
	if tx.Type == DynamicFeeTxType {
		dst = rlpString(dst, tx.MaxPriorityFeePerGas)
		dst = rlpString(dst, tx.MaxFeePerGas)
	} else {
		dst = rlpString(dst, tx.GasPrice)
	}
	dst = rlpUint(dst, tx.Gas)
	dst = rlpString(dst, tx.To)
	dst = rlpString(dst, tx.Value)
	dst = rlpString(dst, tx.Data)
	if tx.Type != LegacyTxType {
		var list []byte
		for _, t := range tx.AccessList {
			var keys []byte
			for _, k := range t.StorageKeys {
				keys = rlpString(keys, k)
			}
			var tuple []byte
			tuple = rlpString(tuple, t.Address)
			tuple = rlpList(tuple, keys)
			list = rlpList(list, tuple)
		}
		dst = rlpList(dst, list)
	}
	return dst
}

// Recipient returns the destination address, or false for a contract
// creation. Call it after Validate.
func (tx *Tx) Recipient() (Address, bool) {
	var a Address
	if len(tx.To) != len(a) {
		return a, false
	}
	copy(a[:], tx.To)
	return a, true
}

// Selector returns the first four bytes of data, the Solidity function
// selector of a contract call, or false if data is shorter.
func (tx *Tx) Selector() ([4]byte, bool) {
	var s [4]byte
	if len(tx.Data) < len(s) {
		return s, false
	}
	copy(s[:], tx.Data)
	return s, true
}
