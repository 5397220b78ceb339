// Device keys and stamps. A device key is a WebCrypto ECDSA P-256 key
// made non-extractable: the page can sign with it and keep it in
// IndexedDB, but no script (ours included) can read its private half. A
// stamp is its signature over a request's exact bytes, which secretd
// checks against the wallet's policy (internal/policy/stamp.go).

import { sha256 } from './bytes.js';
import { credential, AlgES256 } from './request.js';
import { passkeyStamp } from './passkey.js';

export const KindSessionKey = 'session_key';
export const KindPasskey = 'passkey';

const ecdsa = { name: 'ECDSA', namedCurve: 'P-256' };

// newDeviceKey makes a non-extractable P-256 key pair and its credential,
// whose id is SHA-256 of the public key's SPKI (policy.KeyID).
export async function newDeviceKey({ rights, expiresAt, label }) {
  const pair = await crypto.subtle.generateKey(ecdsa, false, ['sign', 'verify']);
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', pair.publicKey));
  const id = await sha256(spki);
  return {
    privateKey: pair.privateKey,
    credential: credential({ id, kind: KindSessionKey, publicKey: spki, alg: AlgES256, rights, expiresAt, label }),
  };
}

// stampWith signs request bytes with this browser's credential: a
// passkey (a WebAuthn assertion whose challenge is the request's hash) or
// a device key (ECDSA P-256 over SHA-256, as ASN.1 DER, what Go's
// ecdsa.VerifyASN1 reads).
export async function stampWith(key, request) {
  if (key.credential.kind === KindPasskey) return passkeyStamp(key.credential, request);
  const raw = new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key.privateKey, request));
  return { credential_id: key.credential.id, signature: rawToDER(raw) };
}

// rawToDER turns WebCrypto's r ‖ s (IEEE P1363, 32 bytes each for P-256)
// into the DER SEQUENCE of two INTEGERs: each in its shortest form, with
// a zero byte in front when its top bit is set (it is positive).
export function rawToDER(raw) {
  if (raw.length !== 64) throw new Error('want a 64-byte P-256 signature');
  const int = (b) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    b = b.subarray(i);
    const pad = b[0] & 0x80 ? [0] : [];
    return [0x02, b.length + pad.length, ...pad, ...b];
  };
  const body = [...int(raw.subarray(0, 32)), ...int(raw.subarray(32))];
  return new Uint8Array([0x30, body.length, ...body]);
}
