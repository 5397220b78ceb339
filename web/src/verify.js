// What the page checks before it shows anything the server relays. The
// server stores and caches receipts and address statements, so it could
// swap them; the enclave signs them with the cluster's receipt key
// (Ed25519), and the page verifies each with the key it pinned and the
// wallet instance it pinned, as niomon client does (secretd/receipt.go,
// secretd/user.go VerifyAddress).

import { concat, equal, utf8 } from './bytes.js';
import { strictDecode } from './request.js';

const receiptContext = utf8('niomon/secretd/v1/receipt\x00');
const addressContext = utf8('niomon/secretd/v1/address\x00');

export class VerifyError extends Error {}

export async function ed25519Verify(publicKey, message, signature) {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return false;
  if (!(signature instanceof Uint8Array) || signature.length !== 64) return false;
  const key = await crypto.subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
  return crypto.subtle.verify({ name: 'Ed25519' }, key, signature, message);
}

// verifyReceipt checks a signed policy receipt and returns its fields.
export async function verifyReceipt(receiptKey, signed) {
  if (!(await ed25519Verify(receiptKey, concat(receiptContext, signed.receipt), signed.signature))) {
    throw new VerifyError('The wallet receipt the server sent is not signed by the key cluster this browser trusts.');
  }
  let r;
  try {
    r = strictDecode(signed.receipt);
  } catch {
    throw new VerifyError('the wallet receipt is unreadable');
  }
  if (typeof r.oid !== 'string' || !(r.instance instanceof Uint8Array) || r.instance.length !== 16 || !Array.isArray(r.credentials)) {
    throw new VerifyError('the wallet receipt is unreadable');
  }
  return { oid: r.oid, instance: r.instance, version: BigInt(r.version), credentials: r.credentials, cluster: r.cluster };
}

// holds reports whether a receipt lists credential c (same id and key).
export function holds(receipt, c) {
  return receipt.credentials.some((x) => equal(x.id, c.id) && equal(x.public_key, c.public_key));
}

// unexpected lists a receipt's credentials that are not among enrolled,
// alike in id, key and rights: what the page must warn about.
export function unexpected(receipt, enrolled) {
  const same = (a, b) => equal(a.id, b.id) && equal(a.public_key, b.public_key) &&
    a.rights.length === b.rights.length && a.rights.every((r) => b.rights.includes(r));
  return receipt.credentials.filter((c) => !enrolled.some((e) => same(c, e)));
}

// The default accounts (internal/nioapi DefaultAccounts): what the server
// calls a chain, and what the enclave was asked for.
export const defaultAccounts = [
  { chain: 'ethereum', scheme: 'eth', path: "m/44'/60'/0'/0/0", hrp: '' },
  { chain: 'bitcoin', scheme: 'btc_p2wpkh', path: "m/84'/0'/0'/0/0", hrp: 'bc' },
  { chain: 'bitcoin-taproot', scheme: 'btc_p2tr', path: "m/86'/0'/0'/0/0", hrp: 'bc' },
  { chain: 'solana', scheme: 'solana', path: "m/44'/501'/0'/0'", hrp: '' },
  { chain: 'cosmos', scheme: 'cosmos', path: "m/44'/118'/0'/0/0", hrp: 'cosmos' },
];

// verifyAddress checks that a is the address the cluster signed for
// wallet oid as its chain's default account, and returns the wallet
// instance the statement names.
export async function verifyAddress(receiptKey, oid, a) {
  const acc = defaultAccounts.find((x) => x.chain === a.chain && x.path === a.path);
  if (!acc) throw new VerifyError(`${a.chain} at ${a.path} is not a default account`);
  if (!(await ed25519Verify(receiptKey, concat(addressContext, a.statement), a.signature))) {
    throw new VerifyError(`The ${a.chain} address the server showed is not signed by the key cluster this browser trusts. Do not send anything to it.`);
  }
  let st;
  try {
    st = strictDecode(a.statement);
  } catch {
    throw new VerifyError(`the ${a.chain} address statement is unreadable`);
  }
  if (!(st.instance instanceof Uint8Array) || st.instance.length !== 16) {
    throw new VerifyError(`the ${a.chain} address statement names no wallet instance`);
  }
  const want = { oid, scheme: acc.scheme, path: acc.path, hrp: acc.hrp, address: a.address, public_key: a.public_key };
  for (const [k, v] of Object.entries(want)) {
    if (st[k] !== v) throw new VerifyError(`The ${a.chain} address the server showed (${a.address}) is not one the enclave signed for your wallet. Do not send anything to it.`);
  }
  return st.instance;
}

// ethPath is the Ethereum account's path, whose address checks exports
// and signatures.
export const ethPath = defaultAccounts[0].path;
