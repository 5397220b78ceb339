// The niomon server's JSON API (docs/openapi.json), from the page: the
// session is the cookie, and every state change carries the session's
// CSRF token. Binary fields travel as base64 and are Uint8Arrays here.

import { toBase64, fromBase64 } from './bytes.js';

export class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let csrf = '';

export function setCSRF(token) {
  if (token) csrf = token;
}

export async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['X-CSRF-Token'] = csrf;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  } catch {
    throw new APIError(0, 'network', 'The server cannot be reached. Check your connection and try again.');
  }
  setCSRF(res.headers.get('X-CSRF-Token'));
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    throw new APIError(res.status, 'bad_answer', `The server answered ${res.status} with something that is not JSON.`);
  }
  if (!res.ok) {
    const e = (data && data.error) || {};
    throw new APIError(res.status, e.code || 'error', e.message || `The server answered ${res.status}.`);
  }
  return data;
}

// stamped is the JSON body of a key-using call.
export function stamped(request, stamp, proofs) {
  const js = (s) => {
    const o = { credential_id: toBase64(s.credential_id), signature: toBase64(s.signature) };
    if (s.authenticator_data) o.authenticator_data = toBase64(s.authenticator_data);
    if (s.client_data_json) o.client_data_json = toBase64(s.client_data_json);
    return o;
  };
  const out = { request: toBase64(request), stamp: js(stamp) };
  if (proofs && proofs.length) out.proofs = proofs.map(js);
  return out;
}

export async function config() {
  const c = await call('GET', '/v1/config');
  return {
    publicURL: c.public_url,
    rpID: c.rp_id,
    clusterIdentity: fromBase64(c.cluster_identity),
    receiptKey: fromBase64(c.receipt_key),
    oidcProviders: c.oidc_providers || [],
    sessionKeyTTL: c.session_key_ttl,
  };
}

// receiptOf and addressOf read a signed receipt and an address from an
// answer, refusing one that lacks them.
export function receiptOf(r) {
  if (!r || typeof r.receipt !== 'string' || typeof r.signature !== 'string') {
    throw new APIError(0, 'bad_answer', 'The server sent no wallet receipt where one belongs. Do not use this wallet until that is explained.');
  }
  return { receipt: fromBase64(r.receipt), signature: fromBase64(r.signature) };
}

export function addressOf(a) {
  if (!a || typeof a.chain !== 'string' || typeof a.address !== 'string' || typeof a.statement !== 'string' || typeof a.signature !== 'string') {
    throw new APIError(0, 'bad_answer', 'The server sent an address without the cluster\'s statement of it.');
  }
  return { chain: a.chain, path: a.path, address: a.address, public_key: a.public_key, statement: fromBase64(a.statement), signature: fromBase64(a.signature) };
}
