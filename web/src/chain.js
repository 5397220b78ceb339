// Independent checks of what the enclave returns, with audited libraries
// (noble, scure): the Ethereum address of a recovery phrase, and the
// signer of a personal_sign signature. The page compares both with the
// address the cluster signed for the user's wallet, so a server that
// forges an export (HPKE base mode does not authenticate the sender) or a
// signature is caught before anything is shown.

import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { mnemonicToSeedWebcrypto } from '@scure/bip39';
import { HDKey } from '@scure/bip32';
import { concat, toHex, utf8 } from './bytes.js';
import { ethPath } from './verify.js';

function ethAddressOfKey(publicKey) {
  const full = secp256k1.Point.fromBytes(publicKey).toBytes(false);
  return '0x' + toHex(keccak_256(full.subarray(1)).subarray(12));
}

// ethAddressOfPhrase derives the phrase's m/44'/60'/0'/0/0 address (BIP39
// seed with no passphrase, BIP32, BIP44), lower case.
export async function ethAddressOfPhrase(phrase) {
  const seed = await mnemonicToSeedWebcrypto(phrase);
  const root = HDKey.fromMasterSeed(seed);
  const key = root.derive(ethPath);
  const addr = ethAddressOfKey(key.publicKey);
  key.wipePrivateData();
  root.wipePrivateData();
  seed.fill(0);
  return addr;
}

// personalSigner recovers the address that made an EIP-191 signature
// (r ‖ s ‖ v, v = 27 or 28) of message, lower case.
export function personalSigner(message, signature) {
  if (signature.length !== 65) throw new Error('want a 65-byte signature');
  const digest = keccak_256(concat(utf8(`\x19Ethereum Signed Message:\n${message.length}`), message));
  const v = signature[64] >= 27 ? signature[64] - 27 : signature[64];
  const pub = secp256k1.recoverPublicKey(concat(new Uint8Array([v]), signature.subarray(0, 64)), digest, { prehash: false });
  return ethAddressOfKey(pub);
}
