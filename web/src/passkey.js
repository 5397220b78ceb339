// Passkeys: the WebAuthn ceremonies of sign-up and sign-in (the server
// verifies those with go-webauthn), and stamps, which are assertions whose
// challenge is SHA-256 of a Secretd request (internal/policy/webauthn.go
// checks them inside the enclave).

import { sha256, concat, utf8 } from './bytes.js';

const signInContext = utf8('niomon/passkey-sign-in/v1\x00');
import { credential, AlgES256 } from './request.js';

export const supported = () => typeof window.PublicKeyCredential === 'function' &&
  typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function';

// register runs navigator.credentials.create with the server's options
// (go-webauthn's JSON) and returns the credential as JSON for the server
// and as a wallet policy entry.
export async function register(options, { rpID, rights, label }) {
  const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey);
  const cred = await navigator.credentials.create({ publicKey });
  if (!cred) throw new Error('No passkey was made.');
  const spki = cred.response.getPublicKey();
  if (!spki || cred.response.getPublicKeyAlgorithm() !== AlgES256) {
    throw new Error('This authenticator made a key the wallet cannot use (it needs ES256).');
  }
  return {
    json: cred.toJSON(),
    credential: credential({
      id: new Uint8Array(cred.rawId), kind: 'passkey', publicKey: new Uint8Array(spki), alg: AlgES256,
      rpID, origins: [location.origin], requireUV: true, rights, label,
    }),
  };
}

// signIn runs navigator.credentials.get with the server's options and
// returns the assertion as JSON, and the credential id it used.
export async function signIn(options) {
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey);
  // The authenticator signs a hash of the server's challenge, never the
  // challenge itself (nioapi.SignInChallenge): a stamp is an assertion
  // over a request's hash, and a lying server could otherwise pick one as
  // its challenge and take the user's sign-in as a stamp of that request.
  publicKey.challenge = await sha256(concat(signInContext, new Uint8Array(publicKey.challenge)));
  const cred = await navigator.credentials.get({ publicKey });
  if (!cred) throw new Error('No passkey was chosen.');
  return {
    json: cred.toJSON(),
    id: new Uint8Array(cred.rawId),
    signed: concat(new Uint8Array(cred.response.authenticatorData), await sha256(new Uint8Array(cred.response.clientDataJSON))),
    signature: new Uint8Array(cred.response.signature),
  };
}

// madeBy reports whether the assertion got (from signIn) was made by the
// ES256 key spki: whether a policy entry's public key is the passkey's.
export async function madeBy(got, spki) {
  try {
    const key = await crypto.subtle.importKey('spki', spki, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
    return await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, derToRaw(got.signature), got.signed);
  } catch {
    return false;
  }
}

// derToRaw turns an ASN.1 DER ECDSA signature (SEQUENCE of two INTEGERs,
// what authenticators return) into WebCrypto's r ‖ s, 32 bytes each.
function derToRaw(der) {
  const fail = () => { throw new Error('not a DER ECDSA signature'); };
  let i = 0;
  if (der[i++] !== 0x30 || der[i++] !== der.length - 2) fail();
  const int = () => {
    if (der[i++] !== 0x02) fail();
    const n = der[i++];
    let b = der.subarray(i, i + n);
    i += n;
    if (b.length !== n || n === 0 || n > 33) fail();
    while (b.length > 32 && b[0] === 0) b = b.subarray(1);
    if (b.length > 32) fail();
    const out = new Uint8Array(32);
    out.set(b, 32 - b.length);
    return out;
  };
  const r = int();
  const s = int();
  if (i !== der.length) fail();
  return concat(r, s);
}

// passkeyStamp has the passkey of policy entry c sign request.
export async function passkeyStamp(c, request) {
  const cred = await navigator.credentials.get({
    publicKey: {
      challenge: await sha256(request),
      rpId: c.rp_id,
      allowCredentials: [{ type: 'public-key', id: c.id }],
      userVerification: 'required',
      timeout: 120000,
    },
  });
  if (!cred) throw new Error('The passkey did not sign.');
  return {
    credential_id: new Uint8Array(cred.rawId),
    signature: new Uint8Array(cred.response.signature),
    authenticator_data: new Uint8Array(cred.response.authenticatorData),
    client_data_json: new Uint8Array(cred.response.clientDataJSON),
  };
}
