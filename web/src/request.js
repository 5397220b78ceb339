// Secretd requests, built in the browser exactly as the enclave wants
// them (internal/policy/request.go): deterministic CBOR (RFC 8949
// §4.2.1), which the enclave decodes strictly and re-encodes to compare,
// so a stamp covers exactly what runs. Field names and omissions follow
// the Go structs' cbor tags: a field tagged omitempty is left out when it
// is empty, every other field is always present.

import { encode, decode, rfc8949EncodeOptions } from 'cborg';
import { randomBytes } from './bytes.js';

export const MethodCreate = 'create';
export const MethodImport = 'import';
export const MethodSign = 'sign';
export const MethodExport = 'export';
export const MethodUpdatePolicy = 'update_policy';

export const RightSign = 'sign';
export const RightExport = 'export';
export const RightPolicy = 'policy';
export const AlgES256 = -7;

// canonical encodes a value as deterministic CBOR: map keys sorted by
// their encoded bytes, integers in their shortest form.
export function canonical(value) {
  return encode(value, rfc8949EncodeOptions);
}

// strictDecode decodes CBOR the way the Go side does: no duplicate map
// keys, no undefined, and only well-formed, shortest-form input.
export function strictDecode(bytes) {
  return decode(bytes, { strict: true, rejectDuplicateMapKeys: true, allowUndefined: false, allowIndefinite: false });
}

// credential is a policy.Credential. expiresAt is Unix seconds (session
// keys); label is what the security page shows.
export function credential({ id, kind, publicKey, alg = AlgES256, rpID, origins, requireUV, expiresAt, rights, label }) {
  const c = { id, kind, public_key: publicKey, alg, rights };
  if (rpID) c.rp_id = rpID;
  if (origins && origins.length) c.origins = origins;
  if (requireUV) c.require_uv = true;
  if (expiresAt) c.expires_at = expiresAt;
  if (label) c.label = label;
  return c;
}

// newRequest encodes a request for the cluster in cfg (GET /v1/config),
// now, with a fresh 16-byte nonce.
export function newRequest(cfg, method, oid, params, now = Date.now()) {
  return canonical({
    method,
    oid,
    params,
    cluster: cfg.clusterIdentity,
    ts: now,
    nonce: randomBytes(16),
  });
}

export function createParams(credentials) {
  return { words: 24, attributes: [], policy_id: '', credentials };
}

// signParams asks for one signature: message is what the scheme signs
// (eth_personal_sign, ed25519), digest a 32-byte hash (secp256k1).
export function signParams(scheme, path, { message, digest, typedData } = {}) {
  const p = { scheme, path };
  if (digest) p.digest = digest;
  if (message) p.message = message;
  if (typedData) p.typed_data = typedData;
  return p;
}
