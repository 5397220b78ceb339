import { test } from 'node:test';
import assert from 'node:assert/strict';

import { NiomonSolanaWallet, registerWallet, ProviderRpcError } from '../src/index.js';

const pub = new Uint8Array(32).fill(7);
const address = 'FakeBase58Address1111111111111111111111111111';

// A transport that answers like the wallet and records what it was asked.
function wallet(answers = {}) {
  const asked = [];
  const transport = {
    async request(method, params) {
      asked.push({ method, params });
      const a = answers[method];
      if (a instanceof Error) throw a;
      if (typeof a === 'function') return a(params);
      return a;
    },
  };
  return { w: new NiomonSolanaWallet({ transport }), asked };
}

const tx = () => Uint8Array.from([1, ...new Uint8Array(64), 1, 0, 1, 2, ...new Uint8Array(64).fill(3)]);

test('it registers with wallet-standard apps, those listening and those that come later', () => {
  const target = new EventTarget();
  const { w } = wallet();
  const got = [];
  target.addEventListener('wallet-standard:register-wallet', (ev) => ev.detail({ register: (x) => got.push(x) }));
  registerWallet(w, { target });
  target.dispatchEvent(new CustomEvent('wallet-standard:app-ready', { detail: { register: (x) => got.push(x) } }));
  assert.equal(got.length, 2);
  assert.ok(got.every((x) => x === w));
  assert.equal(w.version, '1.0.0');
  assert.deepEqual([...w.chains], ['solana:mainnet', 'solana:devnet', 'solana:testnet']);
  assert.deepEqual(Object.keys(w.features).sort(), ['solana:signMessage', 'solana:signTransaction', 'standard:connect', 'standard:disconnect', 'standard:events']);
});

test('connect asks the wallet once, and change listeners hear it and the disconnect', async () => {
  const { w, asked } = wallet({ solana_connect: { address, publicKey: pub } });
  const seen = [];
  const off = w.features['standard:events'].on('change', ({ accounts }) => seen.push(accounts.length));
  assert.deepEqual((await w.features['standard:connect'].connect({ silent: true })).accounts, [], 'silent asks nobody');
  const { accounts } = await w.features['standard:connect'].connect();
  assert.equal(accounts[0].address, address);
  assert.deepEqual(accounts[0].publicKey, pub);
  await w.features['standard:connect'].connect();
  assert.equal(asked.length, 1, 'a second connect does not ask again');
  await w.features['standard:disconnect'].disconnect();
  off();
  await w.features['standard:connect'].connect();
  assert.deepEqual(seen, [1, 0]);
});

test('signatures are asked for the connected account only, and checked for shape', async () => {
  const signature = new Uint8Array(64).fill(5);
  const { w, asked } = wallet({
    solana_connect: { address, publicKey: pub },
    solana_signMessage: { signature },
    solana_signTransaction: ([t]) => {
      const out = t.slice();
      out.set(signature, 1);
      return { signedTransaction: out };
    },
  });
  const msg = new TextEncoder().encode('hello');
  await assert.rejects(w.features['solana:signMessage'].signMessage({ account: { address }, message: msg }), (e) => e instanceof ProviderRpcError && e.code === 4100);
  const [account] = (await w.features['standard:connect'].connect()).accounts;
  await assert.rejects(w.features['solana:signMessage'].signMessage({ account: { address: 'other' }, message: msg }), (e) => e.code === 4100);
  await assert.rejects(w.features['solana:signMessage'].signMessage({ account, message: 'hello' }), (e) => e.code === -32602);
  const [m] = await w.features['solana:signMessage'].signMessage({ account, message: msg });
  assert.deepEqual(m.signature, signature);
  assert.equal(m.signedMessage, msg);
  const [t] = await w.features['solana:signTransaction'].signTransaction({ account, transaction: tx(), chain: 'solana:devnet' });
  assert.deepEqual(t.signedTransaction.subarray(1, 65), signature);
  await assert.rejects(w.features['solana:signTransaction'].signTransaction({ account, transaction: tx(), chain: 'eip155:1' }), (e) => e.code === -32602);
  assert.deepEqual(asked.map((a) => a.method), ['solana_connect', 'solana_signMessage', 'solana_signTransaction']);
  assert.equal(asked[2].params[1], 'solana:devnet');
});

test('a wallet answer that changes the transaction beyond its signature is refused', async () => {
  const { w } = wallet({
    solana_connect: { address, publicKey: pub },
    solana_signTransaction: ([t]) => {
      const out = t.slice();
      out[out.length - 1] ^= 1;
      return { signedTransaction: out };
    },
  });
  const [account] = (await w.features['standard:connect'].connect()).accounts;
  await assert.rejects(w.features['solana:signTransaction'].signTransaction({ account, transaction: tx() }), /changed the transaction/);
});

test('a rejection in the wallet reaches the dApp as 4001', async () => {
  const { w } = wallet({ solana_connect: new ProviderRpcError(4001, 'User rejected the request.') });
  await assert.rejects(w.features['standard:connect'].connect(), (e) => e.code === 4001);
});
