// Login with Niomon: OpenID Connect, authorization code with PKCE (S256),
// from a dApp's page, as a public client. startLogin sends the browser to
// Niomon; finishLogin, on the redirect URI's page, exchanges the code and
// checks the ID token (ES256 signature against the provider's keys,
// issuer, audience, expiry, nonce) with WebCrypto.

const STORE = 'niomon.login';

const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

function fromB64url(s) {
  const b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4));
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
}

function random(n = 32) {
  return b64url(globalThis.crypto.getRandomValues(new Uint8Array(n)));
}

export class LoginError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'LoginError';
    this.code = code;
  }
}

async function discover(issuer, fetchFn) {
  const res = await fetchFn(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
  if (!res.ok) throw new LoginError('discovery', `the provider's configuration answered ${res.status}`);
  const d = await res.json();
  if (d.issuer !== issuer) throw new LoginError('discovery', `the provider says it is ${d.issuer}, not ${issuer}`);
  return d;
}

// startLogin sends the browser to Niomon's sign-in for this app.
export async function startLogin({ issuer, clientId, redirectUri, scope = 'openid email wallet', prompt, storage = globalThis.sessionStorage, location = globalThis.location, fetch: fetchFn = globalThis.fetch } = {}) {
  const d = await discover(issuer, fetchFn);
  const verifier = random(32);
  const challenge = b64url(new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  const state = random(16);
  const nonce = random(16);
  const u = new URL(d.authorization_endpoint);
  const q = { response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope, state, nonce, code_challenge: challenge, code_challenge_method: 'S256' };
  if (prompt) q.prompt = prompt;
  for (const [k, v] of Object.entries(q)) u.searchParams.set(k, v);
  storage.setItem(STORE, JSON.stringify({ issuer, clientId, redirectUri, verifier, state, nonce }));
  location.assign(u.href);
  return u.href;
}

// finishLogin completes a sign-in on the redirect URI's page (url is that
// page's address) and returns the tokens and the ID token's claims.
export async function finishLogin({ url = globalThis.location.href, storage = globalThis.sessionStorage, fetch: fetchFn = globalThis.fetch, now = () => Date.now() } = {}) {
  const saved = JSON.parse(storage.getItem(STORE) || 'null');
  storage.removeItem(STORE);
  if (!saved) throw new LoginError('no_login', 'no sign-in was started in this tab');
  const q = new URL(url).searchParams;
  if (q.get('state') !== saved.state) throw new LoginError('state', 'the answer is not for the sign-in this tab started');
  if (q.get('error')) throw new LoginError(q.get('error'), q.get('error_description') || q.get('error'));
  const code = q.get('code');
  if (!code) throw new LoginError('no_code', 'the answer has no code');
  const d = await discover(saved.issuer, fetchFn);
  const res = await fetchFn(d.token_endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: saved.redirectUri, client_id: saved.clientId, code_verifier: saved.verifier }),
  });
  const tokens = await res.json();
  if (!res.ok) throw new LoginError(tokens.error || 'token', tokens.error_description || `the token endpoint answered ${res.status}`);
  const jwks = await (await fetchFn(d.jwks_uri)).json();
  const claims = await verifyIDToken(tokens.id_token, { jwks, issuer: saved.issuer, clientId: saved.clientId, nonce: saved.nonce, now: now() });
  return { claims, idToken: tokens.id_token, accessToken: tokens.access_token, refreshToken: tokens.refresh_token, expiresIn: tokens.expires_in };
}

// verifyIDToken checks an ES256 ID token against jwks and the request,
// and returns its claims.
export async function verifyIDToken(token, { jwks, issuer, clientId, nonce, now = Date.now(), skewSeconds = 60 }) {
  const parts = typeof token === 'string' ? token.split('.') : [];
  if (parts.length !== 3) throw new LoginError('id_token', 'the ID token is not a JWS');
  const header = JSON.parse(new TextDecoder().decode(fromB64url(parts[0])));
  if (header.alg !== 'ES256') throw new LoginError('id_token', `the ID token is signed with ${header.alg}, not ES256`);
  const jwk = (jwks.keys || []).find((k) => k.kid === header.kid && k.kty === 'EC' && k.crv === 'P-256');
  if (!jwk) throw new LoginError('id_token', 'the ID token is signed by a key the provider does not publish');
  const key = await globalThis.crypto.subtle.importKey('jwk', { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
  const ok = await globalThis.crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, fromB64url(parts[2]), new TextEncoder().encode(`${parts[0]}.${parts[1]}`));
  if (!ok) throw new LoginError('id_token', 'the ID token\'s signature does not verify');
  const c = JSON.parse(new TextDecoder().decode(fromB64url(parts[1])));
  const aud = Array.isArray(c.aud) ? c.aud : [c.aud];
  const t = Math.floor(now / 1000);
  if (c.iss !== issuer) throw new LoginError('id_token', `the ID token's issuer is ${c.iss}`);
  if (!aud.includes(clientId)) throw new LoginError('id_token', 'the ID token is for another app');
  if (!(c.exp > t - skewSeconds)) throw new LoginError('id_token', 'the ID token has expired');
  if (c.nonce !== nonce) throw new LoginError('id_token', 'the ID token is not for this sign-in (nonce)');
  return c;
}
