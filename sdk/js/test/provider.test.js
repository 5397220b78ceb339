import { test } from 'node:test';
import assert from 'node:assert/strict';

import { NiomonProvider, ProviderRpcError } from '../src/index.js';

const ALICE = '0x3e4de9E71ecdD9A70b429b09e6a9e3C211FaD6F5';
const ETH = { chainName: 'Ethereum', rpcUrls: ['https://rpc.example/eth'], nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 } };

// wallet is the transport: it records what reaches the wallet and answers
// from answers (a function of method and params; throwing refuses).
function wallet(answers = {}) {
  const calls = [];
  return {
    calls,
    async request(method, params, context) {
      calls.push({ method, params, context });
      const a = answers[method];
      if (!a) throw { code: 4200, message: `no answer for ${method}` };
      return a(params);
    },
  };
}

// node is a chain's JSON-RPC endpoint, as fetch sees it.
function node(results) {
  const calls = [];
  const fetch = async (url, init) => {
    const req = JSON.parse(init.body);
    calls.push({ url, ...req });
    const r = results[req.method];
    return { status: 200, json: async () => (r && r.error ? { jsonrpc: '2.0', id: req.id, error: r.error } : { jsonrpc: '2.0', id: req.id, result: r }) };
  };
  return { calls, fetch };
}

function events(p) {
  const seen = [];
  for (const e of ['connect', 'disconnect', 'accountsChanged', 'chainChanged']) p.on(e, (v) => seen.push([e, v]));
  return seen;
}

const rejects = async (promise, code) => {
  await assert.rejects(promise, (e) => e instanceof ProviderRpcError && e.code === code, `want a ProviderRpcError ${code}`);
};

test('eth_requestAccounts asks the wallet, then connect and accountsChanged fire once', async () => {
  const w = wallet({ eth_requestAccounts: () => [ALICE] });
  const p = new NiomonProvider({ transport: w, chains: { '0x1': ETH } });
  const seen = events(p);
  assert.deepEqual(await p.request({ method: 'eth_accounts' }), []);
  assert.deepEqual(await p.request({ method: 'eth_requestAccounts' }), [ALICE]);
  assert.deepEqual(await p.request({ method: 'eth_requestAccounts' }), [ALICE]);
  assert.deepEqual(await p.request({ method: 'eth_accounts' }), [ALICE]);
  assert.deepEqual(seen, [['connect', { chainId: '0x1' }], ['accountsChanged', [ALICE]]]);
  assert.equal(w.calls.length, 2);
  assert.equal(w.calls[0].context.chainId, '0x1');
});

test('a refusal in the wallet reaches the dApp as 4001', async () => {
  const p = new NiomonProvider({ transport: wallet({ eth_requestAccounts: () => { throw { code: 4001, message: 'User rejected the request.' }; } }) });
  await rejects(p.request({ method: 'eth_requestAccounts' }), 4001);
});

test('signing needs a connected account, and only the site\'s own', async () => {
  const w = wallet({ eth_requestAccounts: () => [ALICE], personal_sign: ([msg]) => `0xsig-of-${msg}`, eth_signTypedData_v4: () => '0xtyped' });
  const p = new NiomonProvider({ transport: w });
  await rejects(p.request({ method: 'personal_sign', params: ['0x68656c6c6f', ALICE] }), 4100);
  await p.request({ method: 'eth_requestAccounts' });
  assert.equal(await p.request({ method: 'personal_sign', params: ['0x68656c6c6f', ALICE.toLowerCase()] }), '0xsig-of-0x68656c6c6f');
  await rejects(p.request({ method: 'personal_sign', params: ['0x68', '0x0000000000000000000000000000000000000001'] }), 4100);
  assert.equal(await p.request({ method: 'eth_signTypedData_v4', params: [ALICE, '{}'] }), '0xtyped');
  await rejects(p.request({ method: 'personal_sign', params: ['0x68'] }), -32602);
});

test('chains: a known one switches and fires chainChanged, an unknown one is 4902 until added', async () => {
  const p = new NiomonProvider({ transport: wallet(), chains: { '0x1': ETH } });
  const seen = events(p);
  await rejects(p.request({ method: 'wallet_switchEthereumChain', params: [{ chainId: '0x2105' }] }), 4902);
  await rejects(p.request({ method: 'wallet_addEthereumChain', params: [{ chainId: '0x2105', chainName: 'Base', rpcUrls: ['http://insecure'], nativeCurrency: { symbol: 'ETH', decimals: 18 } }] }), -32602);
  assert.equal(await p.request({ method: 'wallet_addEthereumChain', params: [{ chainId: '0x2105', chainName: 'Base', rpcUrls: ['https://rpc.example/base'], nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 } }] }), null);
  assert.equal(await p.request({ method: 'wallet_switchEthereumChain', params: [{ chainId: '0x2105' }] }), null);
  assert.equal(await p.request({ method: 'eth_chainId' }), '0x2105');
  assert.equal(await p.request({ method: 'wallet_switchEthereumChain', params: [{ chainId: '0x2105' }] }), null);
  assert.deepEqual(seen, [['chainChanged', '0x2105']]);
  await rejects(p.request({ method: 'wallet_switchEthereumChain', params: [{ chainId: 'base' }] }), -32602);
});

test('eth_sendTransaction: the wallet signs for the current chain, the dApp\'s node sends', async () => {
  const w = wallet({ eth_requestAccounts: () => [ALICE], eth_signTransaction: ([tx]) => ({ raw: `0x02f8${tx.chainId.slice(2)}` }) });
  const n = node({ eth_sendRawTransaction: '0xhash' });
  const p = new NiomonProvider({ transport: w, chains: { '0x1': ETH }, fetch: n.fetch });
  await p.request({ method: 'eth_requestAccounts' });
  assert.equal(await p.request({ method: 'eth_sendTransaction', params: [{ from: ALICE, to: ALICE, value: '0x1' }] }), '0xhash');
  assert.deepEqual(w.calls.at(-1).params[0].chainId, '0x1');
  assert.deepEqual(n.calls.map((c) => [c.url, c.method]).at(-1), ['https://rpc.example/eth', 'eth_sendRawTransaction']);
  assert.deepEqual(n.calls.at(-1).params, ['0x02f81']);
});

test('eth_sendTransaction: the node fills in what the dApp left out before the wallet is asked', async () => {
  const w = wallet({ eth_requestAccounts: () => [ALICE], eth_signTransaction: () => '0x02ab' });
  const n = node({
    eth_getTransactionCount: '0x7', eth_estimateGas: '0x5208', eth_getBlockByNumber: { baseFeePerGas: '0x3b9aca00' },
    eth_maxPriorityFeePerGas: '0x59682f00', eth_gasPrice: '0x1', eth_sendRawTransaction: '0xhash',
  });
  const p = new NiomonProvider({ transport: w, chains: { '0x1': ETH }, fetch: n.fetch });
  await p.request({ method: 'eth_requestAccounts' });
  await p.request({ method: 'eth_sendTransaction', params: [{ to: ALICE, value: '0x1' }] });
  const tx = w.calls.at(-1).params[0];
  assert.deepEqual([tx.from, tx.nonce, tx.gas, tx.maxPriorityFeePerGas, tx.maxFeePerGas, tx.gasPrice], [ALICE, '0x7', '0x5208', '0x59682f00', `0x${(2n * 1000000000n + 1500000000n).toString(16)}`, undefined]);
  assert.deepEqual(n.calls.find((c) => c.method === 'eth_estimateGas').params, [{ from: ALICE, to: ALICE, value: '0x1' }]);
  // A chain without EIP-1559 gets a gas price; what the dApp set stays.
  const legacy = node({ eth_getBlockByNumber: { number: '0x1' }, eth_gasPrice: '0x9', eth_sendRawTransaction: '0xhash' });
  const q = new NiomonProvider({ transport: w, chains: { '0x1': ETH }, fetch: legacy.fetch });
  await q.request({ method: 'eth_requestAccounts' });
  await q.request({ method: 'eth_sendTransaction', params: [{ from: ALICE, to: ALICE, nonce: '0x1', gas: '0x5208' }] });
  const t2 = w.calls.at(-1).params[0];
  assert.deepEqual([t2.nonce, t2.gas, t2.gasPrice, t2.maxFeePerGas], ['0x1', '0x5208', '0x9', undefined]);
  await rejects(q.request({ method: 'eth_sendTransaction', params: [{ from: '0x' + '00'.repeat(20), to: ALICE }] }), 4100);
});

test('read-only methods go to the node, a node error keeps its code, and without an RPC URL it is 4200', async () => {
  const n = node({ eth_blockNumber: '0x10', eth_call: { error: { code: 3, message: 'execution reverted' } } });
  const p = new NiomonProvider({ transport: wallet(), chains: { '0x1': ETH }, fetch: n.fetch });
  assert.equal(await p.request({ method: 'eth_blockNumber' }), '0x10');
  await rejects(p.request({ method: 'eth_call', params: [{}, 'latest'] }), 3);
  const bare = new NiomonProvider({ transport: wallet(), chainId: '0x1' });
  await rejects(bare.request({ method: 'eth_blockNumber' }), 4200);
  await rejects(bare.request({ method: 'eth_sendTransaction', params: [{ from: ALICE }] }), 4200);
});

test('unknown methods are 4200 and malformed requests -32602', async () => {
  const p = new NiomonProvider({ transport: wallet() });
  await rejects(p.request({ method: 'eth_sign', params: [ALICE, '0x00'] }), 4200);
  await rejects(p.request({ method: 'personal_sign', params: 'not an array' }), -32602);
  await rejects(p.request(undefined), -32602);
});

test('disconnect forgets the accounts and fires accountsChanged and disconnect (4900)', async () => {
  const p = new NiomonProvider({ transport: wallet({ eth_requestAccounts: () => [ALICE] }) });
  await p.request({ method: 'eth_requestAccounts' });
  const seen = events(p);
  p.disconnect();
  assert.deepEqual(seen[0], ['accountsChanged', []]);
  assert.equal(seen[1][0], 'disconnect');
  assert.equal(seen[1][1].code, 4900);
  await rejects(p.request({ method: 'personal_sign', params: ['0x68', ALICE] }), 4100);
});

test('a connection survives a reload in the storage given, and an answer brought back by a redirect connects', async () => {
  const store = new Map();
  const storage = { getItem: (k) => (store.has(k) ? store.get(k) : null), setItem: (k, v) => store.set(k, String(v)), removeItem: (k) => store.delete(k) };
  const account = '0x' + 'ab'.repeat(20);
  let answer = null;
  const transport = { walletOrigin: 'https://wallet.example.com', request: async () => [account], finishRedirect: () => answer };
  const first = new NiomonProvider({ transport, storage });
  assert.equal(first.finishRedirect(), null);
  await first.request({ method: 'eth_requestAccounts' });
  const again = new NiomonProvider({ transport, storage });
  assert.deepEqual(await again.request({ method: 'eth_accounts' }), [account], 'the reload keeps the connection');
  again.disconnect();
  const after = new NiomonProvider({ transport, storage });
  assert.deepEqual(await after.request({ method: 'eth_accounts' }), [], 'a disconnect forgets it');
  const seen = [];
  after.on('accountsChanged', (a) => seen.push(a));
  answer = { method: 'eth_requestAccounts', params: [], result: [account] };
  assert.deepEqual(after.finishRedirect().result, [account]);
  assert.deepEqual(await after.request({ method: 'eth_accounts' }), [account]);
  assert.deepEqual(seen, [[account]]);
  answer = { method: 'eth_requestAccounts', params: [], result: ['not an address'] };
  assert.equal(after.finishRedirect().error.code, 4900);
});
