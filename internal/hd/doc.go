// Package hd derives hierarchical-deterministic keys inside the enclave.
//
// It implements:
//
//   - BIP39 (https://github.com/bitcoin/bips/blob/master/bip-0039.mediawiki):
//     English mnemonics of 12–24 words and their PBKDF2-HMAC-SHA512 seed, with
//     NFKD normalisation of the mnemonic and the passphrase;
//   - BIP32 (https://github.com/bitcoin/bips/blob/master/bip-0032.mediawiki):
//     private derivation on secp256k1 and the xpub/xprv serialization;
//   - SLIP-10 (https://github.com/satoshilabs/slips/blob/master/slip-0010.md):
//     the same scheme for ed25519 (hardened only) and nist256p1 (P-256);
//   - BIP44 (https://github.com/bitcoin/bips/blob/master/bip-0044.mediawiki)
//     style paths such as m/44'/60'/0'/0/7.
//
// This package is part of the enclave's trusted computing base, so it keeps
// its imports few: go-bip39 for the word list and entropy→mnemonic,
// decred's secp256k1, the standard library (ed25519, ecdh P-256, HMAC,
// PBKDF2), base58 and RIPEMD-160. It does no I/O.
//
// Every type that holds key material (Mnemonic, Seed, Node) keeps it in
// unexported fixed-size arrays and has a Wipe method. Wiping is best effort:
// Go may have copied the bytes (strings, library internals), but what this
// package owns it clears. Error strings never contain key material, mnemonic
// words or passphrases; they carry counts and positions only.
package hd
