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
import { enclaveTx } from './ethtx.js';
// The libraries for exports, imports and independent checks load when
// first needed (separate chunks), which keeps the first load small.
const exporting = () => import('./export.js');
const importing = () => import('./import.js');
const chain = () => import('./chain.js');
const txcheck = () => import('./txcheck.js');
import { newDeviceKey, stampWith } from './stamp.js';
import * as passkey from './passkey.js';
import { verifyReceipt, verifyAddress, holds, unexpected, VerifyError, ethPath, ed25519Verify } from './verify.js';

export { VerifyError };

// A device key's lifetime is the server's limit less a margin, so a
// request stamped a little later, or by a clock a little ahead, fits it
// (as niomon client's sessionKeyExpiry).
const sessionKeyMargin = 3 * 60;
// A device key is often a wallet's only credential: one the server lets
// live less than a week is refused, and the page renews its key once a
// third of its life (at most 30 days) is left (rotateIfDue).
const minSessionKeyTTL = 7 * 24 * 60 * 60;
const maxRotateBefore = 30 * 24 * 60 * 60;
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
  // The passkey that signed names the account: one this browser knows
  // for another user, or a wallet whose receipt does not hold this very
  // passkey (its key checked against the assertion just made), is not
  // the user's.
  const known = await store.get(passkeyAccountKey(got.id));
  if (known && known !== user.id) {
    throw new VerifyError(`The server signed this passkey in as account ${user.id}, but it belongs to account ${known} on this browser. Do not use what it shows.`);
  }
  if (user.wallet_ready) {
    const rc = await verifyReceipt(cfg.receiptKey, api.receiptOf(await api.call('GET', '/v1/wallet/policy')));
    const entry = rc.credentials.find((c) => equal(c.id, got.id));
    if (rc.oid !== user.id || !entry || !(await passkey.madeBy(got, entry.public_key))) {
      throw new VerifyError('The server signed you in to an account whose wallet does not hold the passkey you used. Do not use what it shows.');
    }
    const dev = await device(user);
    if (!dev) {
      await store.put(store.deviceKey(user.id), { key: { credential: entry }, oid: user.id, instance: rc.instance, version: rc.version });
    }
  }
  await store.put(passkeyAccountKey(got.id), user.id);
  await useAccount(user);
  return session;
}

const passkeyAccountKey = (id) => `passkey:${toBase64(id)}`;

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
  return newWallet(cfg, user, key, (await importing()).normalizePhrase(phraseText));
}

async function newWallet(cfg, user, key, phrase) {
  // A stored key is never replaced: one bound to a wallet means the
  // wallet exists whatever the server says; one not bound yet is a
  // creation whose answer was lost, retried with the same key (the
  // server answers with the wallet that key made).
  const stored = await device(user);
  if (stored && stored.instance) {
    throw new VerifyError('This browser holds the key of your wallet, but the server says you have none. Your key is kept; do not make another wallet here, and try again later.');
  }
  if (stored && !key) {
    key = stored.key;
  } else {
    key = key || (await newKey(cfg));
    // Kept before it is used: if the answer is lost, a retry finds it.
    await store.put(store.deviceKey(user.id), { key, oid: user.id, instance: null, version: 0n });
  }
  let req, path;
  if (phrase) {
    const ik = await api.call('GET', '/v1/wallet/import-key');
    req = newRequest(cfg, MethodImport, user.id, await (await importing()).sealImport(cfg.receiptKey, ik, user.id, phrase, [key.credential]));
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

// An account this browser holds a wallet key for is pinned to its user
// id, by the email it signs in with: a server that later names another
// user for that email (to show that user's genuine wallet as this one's)
// is refused.
const accountKey = (email) => `account:${normalizeEmail(email)}`;

async function checkAccount(user) {
  if (!user.email) return;
  const pinned = await store.get(accountKey(user.email));
  if (pinned && pinned !== user.id) {
    throw new VerifyError(`The server says ${user.email} is account ${user.id}, but this browser holds the wallet key of ${user.email} as account ${pinned}. Do not use what it shows.`);
  }
}

async function pinAccount(user) {
  if (user.email && (await store.get(accountKey(user.email))) !== user.id) {
    await store.put(accountKey(user.email), user.id);
  }
}

// normalizeEmail compares addresses as a person reads them: Unicode
// NFKC, no invisible format characters, no surrounding space, lower case.
export function normalizeEmail(s) {
  return s.normalize('NFKC').replace(/\p{Cf}/gu, '').trim().toLowerCase();
}

// The account this browser last used (by user id). A page load that finds
// the session on another account, with no sign-in on the page to explain
// it, asks the user (sameAccount); a sign-in the user made here moves it
// (useAccount).
const lastAccountKey = 'account:last';

export async function sameAccount(user) {
  const last = await store.get(lastAccountKey);
  // An account this browser holds a key of was the user's here before.
  return !last || last === user.id || (await device(user)) !== null;
}

export async function useAccount(user) {
  await store.put(lastAccountKey, user.id);
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
  // A rotation whose answer was lost is finished first: the wallet may
  // list only the key kept aside.
  if (await settleRotation(cfg, user)) dev = await device(user);
  return (await currentReceipt(cfg, user, dev)).instance;
}

// currentReceipt fetches the wallet's receipt and checks it as confirm
// says (this user, the pinned instance, no older version than seen, this
// browser's key listed, and newer than after when given), raising the
// pinned version.
async function currentReceipt(cfg, user, dev, after) {
  const rc = await verifyReceipt(cfg.receiptKey, api.receiptOf(await api.call('GET', '/v1/wallet/policy')));
  if (rc.oid !== user.id || !holds(rc, dev.key.credential)) {
    throw new VerifyError(`The cluster's receipt for wallet ${rc.oid} does not list this browser's key: it is not your wallet. Do not use its addresses.`);
  }
  if (dev.instance && !equal(dev.instance, rc.instance)) {
    throw new VerifyError(`The server answers for another wallet (instance ${toHex(rc.instance)}) than the one this browser's key was enrolled in (${toHex(dev.instance)}). Do not use it.`);
  }
  if (rc.version < dev.version || (after !== undefined && rc.version <= after)) {
    throw new VerifyError(`The cluster's receipt names policy version ${rc.version} of your wallet, but this browser has seen version ${after !== undefined && after > dev.version ? after : dev.version}${after !== undefined ? ' or a change since' : ''}: the server shows an old state. Do not trust it.`);
  }
  if (!dev.instance || rc.version !== dev.version) {
    await store.put(store.deviceKey(user.id), { ...dev, instance: rc.instance, version: rc.version });
  }
  return rc;
}

// load fetches the wallet and verifies every address before returning
// it: each must be the cluster's statement for the user's wallet, of the
// pinned instance (or, with no key here, all of one instance).
export async function load(cfg, user) {
  await checkAccount(user);
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
    addresses.push({ chain: a.chain, path: a.path, address: a.address, publicKey: a.public_key });
  }
  // The verified Ethereum address is kept with the key: signatures and
  // exports are checked against it.
  if (dev) {
    await pinAccount(user);
    await useAccount(user);
  }
  const eth = addresses.find((a) => a.chain === 'ethereum' && a.path === ethPath);
  const kept = await device(user);
  if (kept && eth && kept.ethAddress !== eth.address.toLowerCase()) {
    await store.put(store.deviceKey(user.id), { ...kept, ethAddress: eth.address.toLowerCase() });
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
  const sig = fromBase64(out.signature);
  const want = await verifiedEthAddress(cfg, user);
  let signer = '';
  try {
    signer = (await chain()).personalSigner(utf8(text), sig);
  } catch {
    // an unreadable signature is refused below
  }
  if (signer !== want) {
    throw new VerifyError('The signature the server returned is not by your wallet\'s Ethereum account. Do not use it.');
  }
  return '0x' + toHex(sig);
}

// ethAccount is the wallet's Ethereum address as the cluster signed it,
// lower case: what a site that connects is given.
export async function ethAccount(cfg, user) {
  return verifiedEthAddress(cfg, user);
}

// siteMessage is the bytes of a personal_sign message as a site sends it:
// 0x-prefixed hex, or text.
export function siteMessage(m) {
  if (typeof m === 'string' && /^0x([0-9a-fA-F]{2})*$/.test(m)) {
    return Uint8Array.from(m.slice(2).match(/../g) || [], (b) => parseInt(b, 16));
  }
  return utf8(String(m));
}

// signForSite signs what the site at origin asked for (personal_sign,
// eth_signTypedData_v4, or eth_signTransaction with the transaction as
// ethtx.readTx read it) with the Ethereum account, naming the site to the
// server (which signs only for a registered app, and binds a Sign-In
// with Ethereum message to its site), and checks the answer.
export async function signForSite(cfg, user, origin, method, params) {
  const dev = await device(user);
  if (!dev) throw new Error('This browser holds no key of your wallet yet.');
  let p;
  let message = null;
  let tx = null;
  if (method === 'personal_sign') {
    message = siteMessage(params[0]);
    p = signParams('eth_personal_sign', ethPath, { message });
  } else if (method === 'eth_signTypedData_v4') {
    p = signParams('eth_typed_data_v4', ethPath, { typedData: typeof params[1] === 'string' ? params[1] : JSON.stringify(params[1]) });
  } else if (method === 'eth_signTransaction') {
    tx = params[0]; // ethtx.readTx's form, as the user saw it
    p = signParams('eth_transaction', ethPath, {});
    p.tx = enclaveTx(tx);
  } else {
    throw new Error(`Niomon does not sign ${method} for sites yet.`);
  }
  const req = newRequest(cfg, MethodSign, user.id, p);
  const out = await api.call('POST', '/v1/wallet/sign', { ...api.stamped(req, await stampWith(dev.key, req)), origin });
  if (dev.instance && !equal(fromBase64(out.instance), dev.instance)) {
    throw new VerifyError('The signature came from another wallet than yours. Do not use it.');
  }
  if (tx) {
    const raw = '0x' + toHex(fromBase64(out.raw_tx || ''));
    const wrong = await (await txcheck()).checkSignedTx(raw, tx, await verifiedEthAddress(cfg, user));
    if (wrong) throw new VerifyError(`The transaction the server returned is not the one you approved: ${wrong}. Do not use it.`);
    return raw;
  }
  const sig = fromBase64(out.signature);
  if (method === 'eth_signTypedData_v4') {
    const hex = '0x' + toHex(sig);
    const wrong = await (await txcheck()).checkTypedSignature(JSON.parse(p.typed_data), hex, await verifiedEthAddress(cfg, user));
    if (wrong) throw new VerifyError(`The signature the server returned is not good: ${wrong}. Do not use it.`);
    return hex;
  }
  if (message) {
    let signer = '';
    try {
      signer = (await chain()).personalSigner(message, sig);
    } catch {
      // refused below
    }
    if (signer !== await verifiedEthAddress(cfg, user)) {
      throw new VerifyError('The signature the server returned is not by your wallet\'s Ethereum account.');
    }
  }
  return '0x' + toHex(sig);
}

// solanaPath is the Solana account's path (the default account).
const solanaPath = "m/44'/501'/0'/0'";

// solanaAccount is the wallet's Solana account as the cluster signed it:
// { address (base58), publicKey (32 bytes) }.
export async function solanaAccount(cfg, user) {
  const w = await load(cfg, user);
  const a = w.addresses.find((x) => x.chain === 'solana' && x.path === solanaPath);
  if (!a || typeof a.publicKey !== 'string' || !/^[0-9a-f]{64}$/.test(a.publicKey)) throw new VerifyError('The server shows no Solana address the cluster signed for your wallet.');
  return { address: a.address, publicKey: Uint8Array.from(a.publicKey.match(/../g), (x) => parseInt(x, 16)) };
}

// signSolanaForSite signs message (a Solana transaction's message, or an
// off-chain message) with the Solana account for the site at origin, and
// checks the signature against the account's verified key.
export async function signSolanaForSite(cfg, user, origin, message) {
  const dev = await device(user);
  if (!dev) throw new Error('This browser holds no key of your wallet yet.');
  const account = await solanaAccount(cfg, user);
  const req = newRequest(cfg, MethodSign, user.id, signParams('ed25519', solanaPath, { message }));
  const out = await api.call('POST', '/v1/wallet/sign', { ...api.stamped(req, await stampWith(dev.key, req)), origin });
  if (dev.instance && !equal(fromBase64(out.instance), dev.instance)) {
    throw new VerifyError('The signature came from another wallet than yours. Do not use it.');
  }
  const sig = fromBase64(out.signature);
  if (sig.length !== 64 || !(await ed25519Verify(account.publicKey, message, sig))) {
    throw new VerifyError('The signature the server returned is not by your wallet\'s Solana account.');
  }
  return sig;
}

// exportPhrase asks the enclave for the wallet's recovery phrase, sealed
// to a key made here for this one call, and opens it. The phrase is
// checked to be the pinned wallet's before it opens (the instance is in
// the HPKE info too, so another wallet's phrase would not open anyway).
export async function exportPhrase(cfg, user) {
  const dev = await device(user);
  if (!dev) throw new Error('This browser holds no key of your wallet, so it cannot export it.');
  const { newExportKey, openExport } = await exporting();
  const key = await newExportKey();
  const req = newRequest(cfg, MethodExport, user.id, { recipient: key.recipient });
  const out = await api.call('POST', '/v1/wallet/export', api.stamped(req, await stampWith(dev.key, req)));
  const instance = fromBase64(out.instance);
  if (dev.instance && !equal(instance, dev.instance)) {
    throw new VerifyError('The export is of another wallet than the one this browser\'s key was enrolled in; it was not opened.');
  }
  const want = await verifiedEthAddress(cfg, user);
  const phrase = await openExport(key, user.id, instance, req, fromBase64(out.enc), fromBase64(out.ciphertext));
  // HPKE base mode does not say who sealed: anyone who knows the
  // recipient key (the server saw it) could seal a phrase of their own.
  // The phrase must give the address the cluster signed for this wallet.
  if ((await (await chain()).ethAddressOfPhrase(phrase)) !== want) {
    throw new VerifyError('The phrase the server returned is not your wallet\'s: it gives another address. It was not shown; do not rely on any phrase from this server.');
  }
  return phrase;
}

// verifiedEthAddress is the wallet's Ethereum address as the cluster
// signed it (checked by load), lower case.
async function verifiedEthAddress(cfg, user) {
  let dev = await device(user);
  if (!dev || !dev.ethAddress) {
    await load(cfg, user);
    dev = await device(user);
  }
  if (!dev || !dev.ethAddress) throw new VerifyError('The server shows no Ethereum address the cluster signed for your wallet.');
  return dev.ethAddress;
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
  const rc = await currentReceipt(cfg, user, dev);
  const req = newRequest(cfg, MethodUpdatePolicy, user.id, { version: rc.version, change: { add: [found.credential] } });
  await api.call('POST', `/v1/pairings/code/${found.code}/approve`, api.stamped(req, await stampWith(dev.key, req)));
}

// --- Security ----------------------------------------------------------

// walletKeys lists the credentials of the wallet's policy from its
// verified receipt (not from what the server says it stored), marking
// this browser's.
export async function walletKeys(cfg, user) {
  const dev = await device(user);
  if (!dev) return null; // nothing here to check a receipt against
  const rc = await currentReceipt(cfg, user, dev);
  return rc.credentials.map((c) => ({ ...c, mine: !!dev && equal(c.id, dev.key.credential.id) }));
}

// removeKey takes credential c out of the wallet policy with a change
// this browser stamps, and stops it signing in, then checks with the
// cluster's receipt that it is gone.
export async function removeKey(cfg, user, c) {
  const dev = await device(user);
  if (!dev) throw new Error('This browser holds no key of your wallet.');
  const rc = await currentReceipt(cfg, user, dev);
  const req = newRequest(cfg, MethodUpdatePolicy, user.id, { version: rc.version, change: { remove: [c.id] } });
  const st = await stampWith(dev.key, req);
  await api.call('POST', '/v1/devices/revoke', { kind: c.kind, id: toBase64(c.id), policy_change: api.stamped(req, st) });
  // The next receipt must be newer than the one the change was written
  // against: an old one replayed would still list the key.
  const after = await currentReceipt(cfg, user, await device(user), rc.version);
  if (after.credentials.some((x) => equal(x.id, c.id))) {
    throw new VerifyError('The cluster\'s receipt still lists the key you removed.');
  }
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
  const rc = await currentReceipt(cfg, user, dev);
  const req = newRequest(cfg, MethodUpdatePolicy, user.id, { version: rc.version, change: { add: [reg.credential] } });
  const st = await stampWith(dev.key, req);
  const proof = await stampWith({ credential: reg.credential }, req);
  await api.call('POST', '/v1/wallet/policy', api.stamped(req, st, [proof]));
  const after = await currentReceipt(cfg, user, await device(user), rc.version);
  if (!holds(after, reg.credential)) {
    throw new VerifyError('The wallet receipt after adding the passkey does not list it.');
  }
}

// rotateIfDue renews this browser's device key when little of its life
// is left: a new key replaces it in one policy change, stamped by the old
// key and proved by the new, checked in the next receipt. It returns
// whether it rotated. Passkeys do not expire.
export async function rotateIfDue(cfg, user) {
  const dev = await device(user);
  const c = dev && dev.key.credential;
  if (!c || c.kind !== 'session_key' || !c.expires_at) return false;
  const now = Math.floor(Date.now() / 1000);
  const life = Number(c.expires_at) - now;
  if (life > Math.min(maxRotateBefore, Math.floor(cfg.sessionKeyTTL / 3))) return false;
  if (life <= 60) throw new Error('This browser\'s key of your wallet has expired. Sign in on another device of the wallet, or import your recovery phrase.');
  const rc = await currentReceipt(cfg, user, dev);
  const fresh = await newKey(cfg);
  const req = newRequest(cfg, MethodUpdatePolicy, user.id, { version: rc.version, change: { add: [fresh.credential], remove: [c.id] } });
  const st = await stampWith(dev.key, req);
  const proof = await stampWith(fresh, req);
  // The new key is kept aside first: if the answer is lost, the next
  // receipt tells which key the wallet holds (settleRotation).
  await store.put(rotationKey(user.id), fresh);
  try {
    await api.call('POST', '/v1/wallet/policy', api.stamped(req, st, [proof]));
  } catch (e) {
    if (await settleRotation(cfg, user)) return true;
    throw new Error(`Renewing this browser's key did not finish (${e.message}); it is tried again on your next visit.`);
  }
  if (!(await settleRotation(cfg, user))) {
    throw new VerifyError('The receipt after renewing this browser\'s key does not list the new key without the old one.');
  }
  return true;
}

// settleRotation finishes a rotation whose new key waits aside: when the
// wallet's current receipt (this user, the pinned instance, newer than
// seen) lists the new key and not the old, the new key becomes this
// browser's; when it still lists the old one, the aside key is dropped.
// Otherwise (the receipt cannot be had) both stay, for the next visit.
// It reports whether the new key took over.
async function settleRotation(cfg, user) {
  const fresh = await store.get(rotationKey(user.id));
  const dev = await device(user);
  if (!fresh || !dev) return false;
  let rc;
  try {
    rc = await verifyReceipt(cfg.receiptKey, api.receiptOf(await api.call('GET', '/v1/wallet/policy')));
  } catch (e) {
    if (e instanceof VerifyError) throw e;
    return false;
  }
  if (rc.oid !== user.id || (dev.instance && !equal(rc.instance, dev.instance)) || rc.version < dev.version) {
    throw new VerifyError('The server answers for another wallet, or an older state of yours, than this browser holds.');
  }
  if (holds(rc, fresh.credential) && !holds(rc, dev.key.credential) && rc.version > dev.version) {
    await store.put(store.deviceKey(user.id), { ...dev, key: fresh, instance: rc.instance, version: rc.version });
    await store.del(rotationKey(user.id));
    return true;
  }
  if (holds(rc, dev.key.credential) && !holds(rc, fresh.credential)) await store.del(rotationKey(user.id));
  return false;
}

const rotationKey = (userID) => `rotation:${userID}`;
