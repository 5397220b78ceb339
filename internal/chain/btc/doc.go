// Package btc derives Bitcoin addresses and makes Bitcoin signatures inside
// the enclave.
//
// Addresses are native segwit outputs (BIP141 witness programs) encoded as
// BIP173 bech32 (witness version 0) or BIP350 bech32m (versions 1–16):
//   - P2WPKH (BIP141, BIP84 accounts): version 0, HASH160 of the compressed key;
//   - P2TR (BIP341, BIP86 accounts): version 1, the x-only output key Q of the
//     BIP341 key tweak, with an optional script-tree merkle root.
//
// Signatures are over a 32-byte sighash digest that the caller computed
// (BIP143 for version 0, BIP341 for taproot); this package never sees a
// transaction:
//   - ECDSA: RFC 6979 nonces, low S (BIP146), strict DER (BIP66);
//   - Schnorr: BIP340, untweaked or with the BIP341 key-path tweak.
//
// The primitives come from btcec/v2 (ECDSA, BIP340, secp256k1 arithmetic)
// and btcutil/bech32. What is written here is the glue the BIPs define on top:
// the witness-program rules of BIP173/BIP350, the BIP341 tweak and the
// sighash-byte rules. The package is part of the enclave's trusted computing
// base; keep its imports to the standard library, btcec/v2 (with its ecdsa and
// schnorr packages), chainhash, bech32 and RIPEMD-160.
//
// Errors are the sentinel values below, wrapped with a fixed reason; they
// never contain key material.
package btc
