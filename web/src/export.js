// Exporting the recovery phrase. The browser makes a one-use HPKE key
// pair (RFC 9180: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, as
// secretd seals exports), asks for the phrase sealed to its public key,
// and opens the answer here. The server relays only ciphertext. The HPKE
// info binds the wallet id and instance, the additional data the export
// request's hash (secretd/user.go ExportKey.Open), so an answer for
// another wallet, or for another request, does not open.

import { CipherSuite, DhkemP256HkdfSha256, HkdfSha256, Aes256Gcm } from '@hpke/core';
import { concat, utf8, sha256 } from './bytes.js';

const suite = new CipherSuite({ kem: new DhkemP256HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });

export function exportInfo(oid, instance) {
  return concat(utf8(`niomon/secretd/v2/export\x00${oid}\x00`), instance);
}

// newExportKey makes the key pair; recipient is the uncompressed public
// key for ExportParams.
export async function newExportKey() {
  const pair = await suite.kem.generateKeyPair();
  const recipient = new Uint8Array(await suite.kem.serializePublicKey(pair.publicKey));
  return { pair, recipient };
}

// openExport opens the sealed phrase of wallet oid's instance, for the
// export request bytes request.
export async function openExport(key, oid, instance, request, enc, ciphertext) {
  try {
    const rc = await suite.createRecipientContext({ recipientKey: key.pair, enc, info: exportInfo(oid, instance) });
    const pt = new Uint8Array(await rc.open(ciphertext, await sha256(request)));
    const words = new TextDecoder().decode(pt);
    pt.fill(0);
    return words;
  } catch {
    throw new Error('The exported phrase does not open: it was not sealed for this request and wallet.');
  }
}
