// Package eth implements the Ethereum address and signing formats that the
// enclave needs: it turns a secp256k1 key and a request into the exact bytes
// an Ethereum wallet would produce.
//
//   - Addresses: the last 20 bytes of keccak256 of the uncompressed public
//     key (Ethereum Yellow Paper, Appendix F) and the EIP-55 mixed-case checksum
//     (https://eips.ethereum.org/EIPS/eip-55).
//   - Recoverable ECDSA over a 32-byte digest: RFC 6979 deterministic nonces,
//     low s (EIP-2, https://eips.ethereum.org/EIPS/eip-2) and a recovery id,
//     all from decred's secp256k1 ecdsa.SignCompact.
//   - EIP-191 personal_sign (https://eips.ethereum.org/EIPS/eip-191).
//   - EIP-712 eth_signTypedData_v4 (https://eips.ethereum.org/EIPS/eip-712),
//     from untrusted JSON under named limits (see typeddata.go).
//   - Transactions: legacy with EIP-155 replay protection
//     (https://eips.ethereum.org/EIPS/eip-155), EIP-2930 access-list
//     transactions (type 1) and EIP-1559 fee-market transactions (type 2), in
//     the EIP-2718 envelope (https://eips.ethereum.org/EIPS/eip-2718).
//
// This package is part of the enclave's trusted computing base. Its imports
// are the standard library, decred's secp256k1 (+ ecdsa) and x/crypto's
// legacy Keccak-256; the cryptography comes from those libraries, and what is
// written here is only the reviewed glue of the encodings. RLP is the one
// encoding written here although go-ethereum/rlp exists: the transactions need
// only byte strings and lists, which is some 40 lines (rlp.go), while the
// library is reflection-driven, LGPL-3.0 and pulls in more packages. Tests
// check every byte against go-ethereum and published vectors.
//
// Nothing here logs. Errors wrap the sentinels in errors.go with a short
// detail that names fields, paths and limits; they never contain key
// material, and typed-data errors do not echo the values they reject.
package eth
