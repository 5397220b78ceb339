// A relying party on openid-client, for internal/server's tests:
//
//   node rp.mjs start  ISSUER CLIENT_ID REDIRECT_URI
//     prints {"url", "verifier", "state", "nonce"}
//   node rp.mjs finish ISSUER CLIENT_ID REDIRECT_URI CALLBACK_URL VERIFIER STATE NONCE
//     exchanges the code, checks the ID token (signature against the
//     provider's keys, issuer, audience, nonce), refreshes once, and prints
//     {"sub", "email", "wallet_addresses", "refreshed", "reuse_refused"}
//
// NIOMON_LOOPBACK (host:port) is where every request goes: the test's
// server answers for the issuer's host on loopback. NODE_EXTRA_CA_CERTS
// trusts its certificate.
import * as client from 'openid-client';

const loopback = process.env.NIOMON_LOOPBACK;
const fetchVia = (url, options) => {
  const u = new URL(url);
  if (loopback) {
    options = { ...options, headers: new Headers(options.headers) };
    options.headers.set('host', u.host);
    u.host = loopback;
  }
  return fetch(u, options);
};

const [mode, issuer, clientID, redirect, ...rest] = process.argv.slice(2);
const config = await client.discovery(new URL(issuer), clientID, undefined, client.None(), { [client.customFetch]: fetchVia });
config[client.customFetch] = fetchVia;
client.enableNonRepudiationChecks(config);

if (mode === 'start') {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirect,
    scope: 'openid email wallet offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  console.log(JSON.stringify({ url: url.href, verifier, state, nonce }));
} else if (mode === 'finish') {
  const [callback, verifier, state, nonce] = rest;
  const check = { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true };
  const tokens = await client.authorizationCodeGrant(config, new URL(callback), check);
  const claims = tokens.claims();
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  let reuseRefused = false;
  try {
    await client.refreshTokenGrant(config, tokens.refresh_token);
  } catch (e) {
    reuseRefused = e.code === 'OAUTH_RESPONSE_BODY_ERROR' && e.error === 'invalid_grant';
  }
  console.log(JSON.stringify({
    sub: claims.sub,
    email: claims.email,
    wallet_addresses: claims.wallet_addresses,
    refreshed: Boolean(refreshed.access_token && refreshed.refresh_token !== tokens.refresh_token),
    reuse_refused: reuseRefused,
  }));
} else {
  console.error('usage: rp.mjs start|finish ...');
  process.exit(2);
}
