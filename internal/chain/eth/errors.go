package eth

import "errors"

// Sentinel errors. Callers match them with errors.Is; the wrapped detail
// (fmt.Errorf("%w: …")) names the field, path or limit, never key material.
var (
	// ErrInvalidAddress: not "0x" followed by 40 hexadecimal digits.
	ErrInvalidAddress = errors.New("eth: invalid address")
	// ErrAddressChecksum: a mixed-case address whose EIP-55 checksum is wrong.
	ErrAddressChecksum = errors.New("eth: address checksum mismatch")
	// ErrInvalidSignature: a signature that is malformed, out of range or
	// does not recover a public key.
	ErrInvalidSignature = errors.New("eth: invalid signature")
	// ErrInvalidKey: a nil private key.
	ErrInvalidKey = errors.New("eth: invalid key")
	// ErrInvalidTypedData: EIP-712 typed data that does not parse or does not
	// match its types.
	ErrInvalidTypedData = errors.New("eth: invalid typed data")
	// ErrTypedDataLimit: EIP-712 typed data over one of the Max* limits.
	ErrTypedDataLimit = errors.New("eth: typed data over limit")
	// ErrInvalidTx: a transaction that fails Validate.
	ErrInvalidTx = errors.New("eth: invalid transaction")
)
