import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startLogin, finishLogin, verifyIDToken, LoginError } from '../src/index.js';

const ISSUER = 'https://wallet.example.com/oidc';
const b64url = (b) => Buffer.from(b).toString('base64url');

async function signer() {
  const kp = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const jwk = { ...(await crypto.subtle.exportKey('jwk', kp.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const sign = async (claims, header = { alg: 'ES256', kid: 'k1' }) => {
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, kp.privateKey, new TextEncoder().encode(input));
    return `${input}.${b64url(new Uint8Array(sig))}`;
  };
  return { jwks: { keys: [jwk] }, sign };
}

test('verifyIDToken accepts a good ES256 token and refuses each wrong one', async () => {
  const s = await signer();
  const now = Date.now();
  const good = { iss: ISSUER, aud: 'app1', sub: 'u1', exp: Math.floor(now / 1000) + 600, nonce: 'n1' };
  const want = { jwks: s.jwks, issuer: ISSUER, clientId: 'app1', nonce: 'n1', now };
  assert.equal((await verifyIDToken(await s.sign(good), want)).sub, 'u1');
  const other = await signer();
  const cases = [
    ['another issuer', { ...good, iss: 'https://evil.example/oidc' }],
    ['another app', { ...good, aud: 'app2' }],
    ['expired', { ...good, exp: Math.floor(now / 1000) - 3600 }],
    ['another nonce', { ...good, nonce: 'n2' }],
  ];
  for (const [name, claims] of cases) {
    await assert.rejects(verifyIDToken(await s.sign(claims), want), LoginError, name);
  }
  await assert.rejects(verifyIDToken(await other.sign(good), want), /does not verify/, 'another key');
  await assert.rejects(verifyIDToken(await s.sign(good, { alg: 'none', kid: 'k1' }), want), /not ES256/, 'alg none');
  await assert.rejects(verifyIDToken('not.a', want), /not a JWS/);
});

test('startLogin sends the browser with PKCE S256, and finishLogin exchanges the code and checks the token', async () => {
  const s = await signer();
  const store = new Map();
  const storage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v), removeItem: (k) => store.delete(k) };
  let went = '';
  const location = { assign: (u) => { went = u; } };
  let tokenBody = null;
  const fetch = async (url, init) => {
    const json = (v, status = 200) => ({ ok: status < 300, status, json: async () => v });
    if (url === `${ISSUER}/.well-known/openid-configuration`) {
      return json({ issuer: ISSUER, authorization_endpoint: `${ISSUER}/authorize`, token_endpoint: `${ISSUER}/oauth/token`, jwks_uri: `${ISSUER}/keys` });
    }
    if (url === `${ISSUER}/keys`) return json(s.jwks);
    if (url === `${ISSUER}/oauth/token`) {
      tokenBody = new URLSearchParams(init.body);
      const q = new URL(went).searchParams;
      const idToken = await s.sign({ iss: ISSUER, aud: 'app1', sub: 'u1', exp: Math.floor(Date.now() / 1000) + 600, nonce: q.get('nonce') });
      return json({ access_token: 'at', token_type: 'Bearer', id_token: idToken, expires_in: 3600 });
    }
    return json({}, 404);
  };
  await startLogin({ issuer: ISSUER, clientId: 'app1', redirectUri: 'https://dapp.example/cb', storage, location, fetch });
  const q = new URL(went).searchParams;
  assert.equal(q.get('code_challenge_method'), 'S256');
  assert.equal(q.get('response_type'), 'code');
  const verifier = JSON.parse(store.get('niomon.login')).verifier;
  const challenge = b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  assert.equal(q.get('code_challenge'), challenge);

  // An answer with another state is refused and spends the sign-in.
  const saved = store.get('niomon.login');
  await assert.rejects(finishLogin({ url: `https://dapp.example/cb?code=c&state=forged`, storage, fetch }), /not for the sign-in/);
  store.set('niomon.login', saved);
  const got = await finishLogin({ url: `https://dapp.example/cb?code=c1&state=${q.get('state')}`, storage, fetch });
  assert.equal(got.claims.sub, 'u1');
  assert.equal(tokenBody.get('code_verifier'), verifier);
  assert.equal(tokenBody.get('code'), 'c1');
  await assert.rejects(finishLogin({ url: `https://dapp.example/cb?code=c1&state=${q.get('state')}`, storage, fetch }), /no sign-in/);
});
