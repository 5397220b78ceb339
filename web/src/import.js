// Importing a recovery phrase: the browser seals it to the enclave's
// import key (HPKE, RFC 9180, the suite of exports), so the server relays
// only ciphertext. The import key must be signed by the pinned receipt
// key. The HPKE info binds the wallet id and the additional data the rest
// of the request (the key id, attributes, policy id and credentials;
// policy.ImportBinding), so nobody can lift the ciphertext into an import
// that enrols their own key (secretd/user.go SealImport).

import { CipherSuite, DhkemP256HkdfSha256, HkdfSha256, Aes256Gcm } from '@hpke/core';
import { concat, utf8, sha256, fromBase64 } from './bytes.js';
import { canonical } from './request.js';
import { ed25519Verify, VerifyError } from './verify.js';

const suite = new CipherSuite({ kem: new DhkemP256HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });
const importKeyContext = utf8('niomon/secretd/v1/import-key\x00');

const wordCounts = [12, 15, 18, 21, 24];

// normalizePhrase joins the words with single spaces, in lower case, and
// refuses a count BIP39 does not have (the enclave checks the checksum).
export function normalizePhrase(text) {
  const words = text.trim().toLowerCase().split(/\s+/).filter(Boolean);
  if (!wordCounts.includes(words.length)) {
    throw new Error(`A recovery phrase has 12, 15, 18, 21 or 24 words; this has ${words.length}.`);
  }
  return words.join(' ');
}

// sealImport returns the import params for wallet oid enrolling
// credentials, with phrase sealed to the cluster's import key ik (GET
// /v1/wallet/import-key).
export async function sealImport(receiptKey, ik, oid, phrase, credentials) {
  const keyID = fromBase64(ik.key_id);
  const pub = fromBase64(ik.public_key);
  if (!(await ed25519Verify(receiptKey, concat(importKeyContext, keyID, pub), fromBase64(ik.signature)))) {
    throw new VerifyError('The import key the server sent is not signed by the key cluster this browser trusts. Your phrase was not sent.');
  }
  const params = { key_id: keyID, enc: null, ciphertext: null, attributes: [], policy_id: '', credentials };
  const binding = await sha256(canonical(['niomon/secretd/v2/import-binding', oid, keyID, params.attributes, params.policy_id, credentials]));
  const sender = await suite.createSenderContext({
    recipientPublicKey: await suite.kem.deserializePublicKey(pub),
    info: utf8(`niomon/secretd/v2/import\x00${oid}`),
  });
  const pt = utf8(phrase);
  params.ciphertext = new Uint8Array(await sender.seal(pt, binding));
  pt.fill(0);
  params.enc = new Uint8Array(sender.enc);
  return params;
}
