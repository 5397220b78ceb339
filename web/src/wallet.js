// The wallet as this browser sees it: the cluster it trusts, the device
// key it holds, and every check between what the server relays and what
// the page shows. Nothing here trusts the server: receipts and address
// statements are verified with the pinned receipt key, and the wallet
// instance and the highest receipt version are pinned per user, as
// niomon client pins them (internal/niomoncmd/keyfile.go bindWallet).

import * as api from './api.js';
import * as store from './store.js';
import { equal, fromBase64, toBase64, toHex, utf8 } from './bytes.js';
import { newRequest, createParams, signParams, canonical, strictDecode, MethodCreate, MethodImport, MethodSign, MethodExport, MethodUpdatePolicy, RightSign, RightExport, RightPolicy } from './request.js';
import { pairingCode, normalizeCode } from './pairing.js';
import { newExportKey, openExport } from './export.js';
import { sealImport, normalizePhrase } from './import.js';
import { newDeviceKey, stampWith } from './stamp.js';
import * as passkey from './passkey.js';
import { verifyReceipt, verifyAddress, holds, unexpected, VerifyError } from './verify.js';

export { VerifyError };

// A device key's lifetime is the server's limit less a margin, so a
// request stamped a little later, or by a clock a little ahead, fits it
// (as niomon client's sessionKeyExpiry).
const sessionKeyMargin = 3 * 60;
const minSessionKeyTTL = 60 * 60;
const deviceRights = [RightSign, RightExport, RightPolicy];

// trustedConfig reads /v1/config and checks it against the cluster this
// browser pinned on first use: a server that starts presenting another
// receipt key or cluster could show anything, so the page refuses.
export async function trustedConfig() {
  const cfg = await api.config();
  const pinned = await store.get(store.clusterKey);
  if (!pinned) {
    await store.put(store.clusterKey, { receiptKey: cfg.receiptKey, clusterIdentity: cfg.clusterIdentity });
  } else if (!equal(pinned.receiptKey, cfg.receiptKey) || !equal(pinned.clusterIdentity, cfg.clusterIdentity)) {
    throw new VerifyError('This server now presents a different key cluster than the one this browser first trusted. Do not use it; ask the operator what changed.');
  }
  return cfg;
}

function deviceLabel() {
  const ua = navigator.userAgentData;
  const platform = (ua && ua.platform) || navigator.platform || 'this device';
  return `Browser on ${platform}`.slice(0, 128);
}

// newKey makes this browser's device key for a user who signed in with
// an email code, a link or an OIDC provider.
async function newKey(cfg) {
  if (cfg.sessionKeyTTL < minSessionKeyTTL) {
    throw new Error(`The server allows device keys a lifetime of only ${cfg.sessionKeyTTL} s; refusing to make one that expires so soon.`);
  }
  const expiresAt = Math.floor(Date.now() / 1000) + cfg.sessionKeyTTL - sessionKeyMargin;
  return newDeviceKey({ rights: deviceRights, expiresAt, label: deviceLabel() });
}

// signUpWithPasskey makes an account whose first credential is a new
// passkey, and returns the session and the passkey as a wallet
// credential (its public key comes from the registration).
export async function signUpWithPasskey(cfg) {
  const begin = await api.call('POST', '/v1/auth/passkey/signup/begin', {});
  const reg = await passkey.register(begin.options, { rpID: cfg.rpID, rights: deviceRights, label: 'Passkey' });
  const session = await api.call('POST', '/v1/auth/passkey/signup/finish', { flow: begin.flow, credential: reg.json });
  return { session, key: { credential: reg.credential } };
}

// signInWithPasskey signs in with a discoverable passkey. On a browser
// that holds no key of the user's wallet, the passkey becomes its key if
// the wallet's receipt lists it (a passkey the platform synced here).
export async function signInWithPasskey(cfg) {
  const begin = await api.call('POST', '/v1/auth/passkey/login/begin', {});
  const got = await passkey.signIn(begin.options);
  const session = await api.call('POST', '/v1/auth/passkey/login/finish', { flow: begin.flow, credential: got.json });
  api.setCSRF(session.csrf_token);
  const user = session.user;
  if (user.wallet_ready && !(await device(user))) {
    const listed = (await api.call('GET', '/v1/passkeys')).find((p) => equal(fromBase64(p.credential_id), got.id));
    if (listed) {
      const c = { id: got.id, kind: 'passkey', public_key: fromBase64(listed.public_key), alg: listed.alg, rp_id: cfg.rpID, origins: [location.origin], require_uv: true, rights: deviceRights };
      const rc = await verifyReceipt(cfg.receiptKey, api.receiptOf(await api.call('GET', '/v1/wallet/policy')));
      if (rc.oid === user.id && holds(rc, c)) {
        await store.put(store.deviceKey(user.id), { key: { credential: c }, oid: user.id, instance: rc.instance, version: rc.version });
      }
    }
  }
  return session;
}

// createWallet makes the signed-in user's wallet with key (this
// browser's new passkey, or else a new device key) as its one
// credential, checks the receipt lists exactly that, and pins the wallet
// instance.
export async function createWallet(cfg, user, key) {
  return newWallet(cfg, user, key, null);
}

// importWallet makes the user's wallet from a recovery phrase, sealed
// here to the enclave's import key, with key as its one credential.
export async function importWallet(cfg, user, key, phraseText) {
  return newWallet(cfg, user, key, normalizePhrase(phraseText));
}

async function newWallet(cfg, user, key, phrase) {
  key = key || (await newKey(cfg));
  // The key is kept before it is used: if the answer is lost, a retry
  // with the same key finds the wallet it made.
  await store.put(store.deviceKey(user.id), { key, oid: user.id, instance: null, version: 0n });
  let req, path;
  if (phrase) {
    const ik = await api.call('GET', '/v1/wallet/import-key');
    req = newRequest(cfg, MethodImport, user.id, await sealImport(cfg.receiptKey, ik, user.id, phrase, [key.credential]));
    path = '/v1/wallet/import';
  } else {
    req = newRequest(cfg, MethodCreate, user.id, createParams([key.credential]));
    path = '/v1/wallet';
  }
  phrase = null;
  const out = await api.call('POST', path, api.stamped(req, await stampWith(key, req)));
  const rc = await verifyReceipt(cfg.receiptKey, api.receiptOf(out.receipt));
  const shown = out.wallet && out.wallet.oid;
  if (rc.oid !== user.id || shown !== user.id) {
    throw new VerifyError(`Asked for wallet ${user.id}, but the receipt names ${rc.oid} and the server shows ${shown}.`);
  }
  if (unexpected(rc, [key.credential]).length > 0) {
    throw new VerifyError('The new wallet lists credentials this browser did not enrol. Do not use it.');
  }
  await store.put(store.deviceKey(user.id), { key, oid: user.id, instance: rc.instance, version: rc.version });
  return out.wallet;
}

// device returns this browser's key for user, or null.
export async function device(user) {
  return (await store.get(store.deviceKey(user.id))) || null;
}

// confirm checks that the wallet the server shows for user is the one
// this browser's key belongs to: the cluster's receipt of its current
// policy names the user, the pinned instance, no older version than
// seen, and lists the key. It raises the pinned version and returns the
// instance; without a key here it returns null.
async function confirm(cfg, user, dev) {
  if (!dev) return null;
  const rc = await verifyReceipt(cfg.receiptKey, api.receiptOf(await api.call('GET', '/v1/wallet/policy')));
  if (rc.oid !== user.id || !holds(rc, dev.key.credential)) {
    throw new VerifyError(`The cluster's receipt for wallet ${rc.oid} does not list this browser's key: it is not your wallet. Do not use its addresses.`);
  }
  if (dev.instance && !equal(dev.instance, rc.instance)) {
    throw new VerifyError(`The server answers for another wallet (instance ${toHex(rc.instance)}) than the one this browser's key was enrolled in (${toHex(dev.instance)}). Do not use it.`);
  }
  if (rc.version < dev.version) {
    throw new VerifyError(`The cluster's receipt names policy version ${rc.version} of your wallet, but this browser has seen version ${dev.version}: the store was rolled back. Do not use the wallet.`);
  }
  if (!dev.instance || rc.version !== dev.version) {
    await store.put(store.deviceKey(user.id), { ...dev, instance: rc.instance, version: rc.version });
  }
  return rc.instance;
}

// load fetches the wallet and verifies every address before returning
// it: each must be the cluster's statement for the user's wallet, of the
// pinned instance (or, with no key here, all of one instance).
export async function load(cfg, user) {
  const w = await api.call('GET', '/v1/wallet');
  if (!w.ready) return { ready: false, oid: w.oid, addresses: [] };
  if (w.oid !== user.id) throw new VerifyError(`The server shows wallet ${w.oid}, not yours (${user.id}).`);
  const dev = await device(user);
  let pinned = await confirm(cfg, user, dev);
  const addresses = [];
  for (const raw of w.addresses || []) {
    const a = api.addressOf(raw);
    const inst = await verifyAddress(cfg.receiptKey, user.id, a);
    if (pinned === null) pinned = inst;
    if (!equal(inst, pinned)) {
      throw new VerifyError(`The server's ${a.chain} address ${a.address} belongs to another wallet than yours. Do not use it.`);
    }
    addresses.push({ chain: a.chain, path: a.path, address: a.address });
  }
  return { ready: true, oid: w.oid, addresses, confirmed: dev !== null, canSign: dev !== null };
}

// signMessage signs text with the Ethereum account (EIP-191
// personal_sign) and returns the signature in hex, after checking the
// answer names the pinned wallet instance.
export async function signMessage(cfg, user, text) {
  const dev = await device(user);
  if (!dev) throw new Error('This browser holds no key of your wallet yet.');
  const req = newRequest(cfg, MethodSign, user.id, signParams('eth_personal_sign', "m/44'/60'/0'/0/0", { message: utf8(text) }));
  const out = await api.call('POST', '/v1/wallet/sign', api.stamped(req, await stampWith(dev.key, req)));
  if (dev.instance && !equal(fromBase64(out.instance), dev.instance)) {
    throw new VerifyError('The signature came from another wallet than yours. Do not use it.');
  }
  return '0x' + toHex(fromBase64(out.signature));
}

// exportPhrase asks the enclave for the wallet's recovery phrase, sealed
// to a key made here for this one call, and opens it. The phrase is
// checked to be the pinned wallet's before it opens (the instance is in
// the HPKE info too, so another wallet's phrase would not open anyway).
export async function exportPhrase(cfg, user) {
  const dev = await device(user);
  if (!dev) throw new Error('This browser holds no key of your wallet, so it cannot export it.');
  const key = await newExportKey();
  const req = newRequest(cfg, MethodExport, user.id, { recipient: key.recipient });
  const out = await api.call('POST', '/v1/wallet/export', api.stamped(req, await stampWith(dev.key, req)));
  const instance = fromBase64(out.instance);
  if (dev.instance && !equal(instance, dev.instance)) {
    throw new VerifyError('The export is of another wallet than the one this browser\'s key was enrolled in; it was not opened.');
  }
  return openExport(key, user.id, instance, req, fromBase64(out.enc), fromBase64(out.ciphertext));
}

// usesPasskey reports whether this browser stamps with a passkey (which
// asks the user to verify each time).
export async function usesPasskey(user) {
  const dev = await device(user);
  return !!dev && dev.key.credential.kind === 'passkey';
}

// --- A second device -------------------------------------------------

const pairingKey = (userID) => `pairing:${userID}`;

// startPairing, on a browser that holds no key of the user's wallet,
// makes a device key and asks to join with it. It returns the code to
// show; the pending pairing survives a reload.
export async function startPairing(cfg, user) {
  const key = await newKey(cfg);
  const credential = canonical(key.credential);
  const p = await api.call('POST', '/v1/pairings', { credential: toBase64(credential) });
  const code = await pairingCode(key.credential.public_key);
  if (p.code !== code) throw new VerifyError('The server registered this browser under another code than its key gives. Do not go on.');
  const pending = { key, credential, id: p.id, code, expiresAt: Date.parse(p.expires_at) };
  await store.put(pairingKey(user.id), pending);
  return pending;
}

export async function pendingPairing(user) {
  const p = await store.get(pairingKey(user.id));
  return p && p.expiresAt > Date.now() ? p : null;
}

// finishPairing checks once whether a device of the wallet approved the
// pairing; if so it checks that the change adds exactly this browser's
// key to this user's wallet and nothing else, proves it with the key,
// sends it, and keeps the key as this browser's. It returns whether the
// browser joined.
export async function finishPairing(cfg, user, pending) {
  const p = await api.call('GET', `/v1/pairings/${encodeURIComponent(pending.id)}`);
  if (!p.approval) return false;
  const request = fromBase64(p.approval.request);
  let r;
  try {
    r = strictDecode(request);
  } catch {
    throw new VerifyError('The approval the server relayed is unreadable.');
  }
  const change = (r.params && r.params.change) || {};
  const add = change.add || [];
  if (r.method !== MethodUpdatePolicy || r.oid !== user.id || !equal(r.cluster, cfg.clusterIdentity) ||
      (change.remove && change.remove.length) || add.length !== 1 || !equal(canonical(add[0]), pending.credential)) {
    throw new VerifyError('The approval the server relayed does not add exactly this browser\'s key to your wallet. It was not signed.');
  }
  const proof = await stampWith(pending.key, request);
  const out = await api.call('POST', '/v1/wallet/policy', {
    request: p.approval.request,
    stamp: p.approval.stamp,
    proofs: [{ credential_id: toBase64(proof.credential_id), signature: toBase64(proof.signature) }],
  });
  const rc = await verifyReceipt(cfg.receiptKey, api.receiptOf(out));
  if (rc.oid !== user.id || !holds(rc, pending.key.credential)) {
    throw new VerifyError('The wallet receipt after pairing does not list this browser\'s key.');
  }
  await store.put(store.deviceKey(user.id), { key: pending.key, oid: user.id, instance: rc.instance, version: rc.version });
  await store.del(pairingKey(user.id));
  await api.call('DELETE', `/v1/pairings/${encodeURIComponent(pending.id)}`).catch(() => {});
  return true;
}

// lookupPairing, on a device of the wallet, finds the device waiting
// under a code the user typed and checks the server handed over the key
// that code stands for.
export async function lookupPairing(user, typed) {
  const code = normalizeCode(typed);
  if (!/^[0-9A-HJKMNP-TV-Z]{10}$/.test(code)) throw new Error('A code is ten letters and digits, as the new device shows it.');
  const p = await api.call('GET', `/v1/pairings/code/${code}`);
  const credential = fromBase64(p.credential);
  let c;
  try {
    c = strictDecode(credential);
  } catch {
    throw new VerifyError('The server sent an unreadable key for that code.');
  }
  if (!(c.public_key instanceof Uint8Array) || (await pairingCode(c.public_key)) !== code) {
    throw new VerifyError('The server sent another key than the one the new device shows. Do not approve it.');
  }
  if (c.kind !== 'session_key' || !Array.isArray(c.rights) || !c.rights.every((r) => deviceRights.includes(r))) {
    throw new VerifyError('The waiting key asks for more than a device key may have.');
  }
  return { code, credential: c, userAgent: p.user_agent };
}

// approvePairing has this device's key stamp a policy change that adds
// the waiting key, written against the wallet's current version.
export async function approvePairing(cfg, user, found) {
  const dev = await device(user);
  if (!dev) throw new Error('This browser holds no key of your wallet.');
  const rc = await verifyReceipt(cfg.receiptKey, api.receiptOf(await api.call('GET', '/v1/wallet/policy')));
  if (rc.oid !== user.id || !holds(rc, dev.key.credential) || (dev.instance && !equal(dev.instance, rc.instance)) || rc.version < dev.version) {
    throw new VerifyError('The server shows a wallet this browser\'s key does not belong to.');
  }
  const req = newRequest(cfg, MethodUpdatePolicy, user.id, { version: rc.version, change: { add: [found.credential] } });
  await api.call('POST', `/v1/pairings/code/${found.code}/approve`, api.stamped(req, await stampWith(dev.key, req)));
}

// --- Security ----------------------------------------------------------

// walletKeys lists the credentials of the wallet's policy from its
// verified receipt (not from what the server says it stored), marking
// this browser's.
export async function walletKeys(cfg, user) {
  const dev = await device(user);
  const rc = await verifyReceipt(cfg.receiptKey, api.receiptOf(await api.call('GET', '/v1/wallet/policy')));
  if (rc.oid !== user.id || (dev && dev.instance && !equal(dev.instance, rc.instance))) {
    throw new VerifyError('The server shows a policy of another wallet than yours.');
  }
  return rc.credentials.map((c) => ({ ...c, mine: !!dev && equal(c.id, dev.key.credential.id) }));
}

// removeKey takes credential c out of the wallet policy with a change
// this browser stamps, and stops it signing in, then checks with the
// cluster's receipt that it is gone.
export async function removeKey(cfg, user, c) {
  const dev = await device(user);
  if (!dev) throw new Error('This browser holds no key of your wallet.');
  const rc = await verifyReceipt(cfg.receiptKey, api.receiptOf(await api.call('GET', '/v1/wallet/policy')));
  const req = newRequest(cfg, MethodUpdatePolicy, user.id, { version: rc.version, change: { remove: [c.id] } });
  const st = await stampWith(dev.key, req);
  await api.call('POST', '/v1/devices/revoke', { kind: c.kind, id: toBase64(c.id), policy_change: api.stamped(req, st) });
  const after = await verifyReceipt(cfg.receiptKey, api.receiptOf(await api.call('GET', '/v1/wallet/policy')));
  if (after.oid !== user.id || after.credentials.some((x) => equal(x.id, c.id))) {
    throw new VerifyError('The cluster\'s receipt still lists the key you removed.');
  }
  await store.put(store.deviceKey(user.id), { ...dev, instance: after.instance, version: after.version });
}

// addPasskey registers a new passkey for signing in and enrols it in the
// wallet policy: a change this browser stamps and the passkey proves (an
// assertion over the same request), checked in the next receipt.
export async function addPasskey(cfg, user) {
  const dev = await device(user);
  if (!dev) throw new Error('This browser holds no key of your wallet.');
  const begin = await api.call('POST', '/v1/passkeys/begin', {});
  const reg = await passkey.register(begin.options, { rpID: cfg.rpID, rights: deviceRights, label: 'Passkey' });
  await api.call('POST', '/v1/passkeys/finish', { flow: begin.flow, credential: reg.json });
  const rc = await verifyReceipt(cfg.receiptKey, api.receiptOf(await api.call('GET', '/v1/wallet/policy')));
  const req = newRequest(cfg, MethodUpdatePolicy, user.id, { version: rc.version, change: { add: [reg.credential] } });
  const st = await stampWith(dev.key, req);
  const proof = await stampWith({ credential: reg.credential }, req);
  const out = await api.call('POST', '/v1/wallet/policy', api.stamped(req, st, [proof]));
  const after = await verifyReceipt(cfg.receiptKey, api.receiptOf(out));
  if (after.oid !== user.id || !holds(after, reg.credential) || !holds(after, dev.key.credential)) {
    throw new VerifyError('The wallet receipt after adding the passkey does not list it.');
  }
  await store.put(store.deviceKey(user.id), { ...dev, instance: after.instance, version: after.version });
}
