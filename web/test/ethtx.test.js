// Ditto's reading of a dApp's transaction (src/ethtx.js), with node's own
// test runner: node --test test/ (run by .ci/run).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { readTx, enclaveTx, call, units } from '../src/ethtx.js';

const account = '0x' + 'ab'.repeat(20);
const usdc = '0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48';
const word = (hex) => hex.replace(/^0x/, '').padStart(64, '0');
const transfer = '0xa9059cbb' + word('22'.repeat(20)) + word((1500000).toString(16));
const base = { from: account, to: usdc, nonce: '0x7', gas: '0xea60', maxFeePerGas: '0x6fc23ac00', maxPriorityFeePerGas: '0x3b9aca00', data: transfer };

test('an EIP-1559 transaction is read with the chain the site is on', () => {
  const t = readTx(base, '0x1');
  assert.equal(t.type, 2);
  assert.equal(t.chainId, 1n);
  assert.equal(t.nonce, 7n);
  assert.equal(t.gas, 60000n);
  assert.equal(t.value, 0n);
  assert.equal(t.to, usdc);
  assert.equal(t.maxFeePerGas, 30000000000n);
});

test('transactions the wallet must not guess at are refused, each naming why', () => {
  const cases = [
    ['no chain at all', { ...base }, undefined, /no chainId/],
    ['chain 0', { ...base, chainId: '0x0' }, undefined, /every chain/],
    ['a chain other than the site\'s', { ...base, chainId: '0x89' }, '0x1', /chain 137.*chain 1/],
    ['no nonce', { ...base, nonce: undefined }, '0x1', /no nonce/],
    ['no gas', { ...base, gas: undefined }, '0x1', /no gas/],
    ['a decimal value', { ...base, value: '100' }, '0x1', /value must be/],
    ['a negative number', { ...base, value: -1 }, '0x1', /value must be/],
    ['a value over 256 bits', { ...base, value: '0x1' + '0'.repeat(64) }, '0x1', /value must be/],
    ['gasPrice on a type 2', { ...base, type: '0x2', gasPrice: '0x1' }, '0x1', /not gasPrice/],
    ['both fee kinds and no type', { ...base, gasPrice: '0x1' }, '0x1', /gasPrice only/],
    ['a tip above the fee cap', { ...base, maxPriorityFeePerGas: '0x6fc23ac01' }, '0x1', /above/],
    ['a type 3 (blob) transaction', { ...base, type: '0x3' }, '0x1', /type 0, 1 and 2/],
    ['a short recipient', { ...base, to: '0x1234' }, '0x1', /20-byte/],
    ['odd-length data', { ...base, data: '0xabc' }, '0x1', /hex bytes/],
    ['data and input that differ', { ...base, input: '0x00' }, '0x1', /differ/],
    ['an unknown field', { ...base, blobVersionedHashes: [] }, '0x1', /does not sign.*blobVersionedHashes/],
    ['a legacy transaction without gasPrice', { ...base, type: '0x0', maxFeePerGas: undefined, maxPriorityFeePerGas: undefined }, '0x1', /needs gasPrice/],
    ['not an object', 'tx', '0x1', /not an object/],
  ];
  for (const [name, tx, chain, want] of cases) {
    assert.throws(() => readTx(tx, chain), want, name);
  }
});

test('the enclave\'s map has quantities as minimal big-endian bytes, zero empty', () => {
  const m = enclaveTx(readTx({ ...base, value: '0x0100' }, '0x1'));
  assert.deepEqual(m.chain_id, Uint8Array.of(1));
  assert.deepEqual(m.value, Uint8Array.of(1, 0));
  assert.equal(m.nonce, 7n);
  assert.equal(m.gas, 60000n);
  assert.equal(m.to.length, 20);
  assert.deepEqual(m.max_priority_fee_per_gas, Uint8Array.of(0x3b, 0x9a, 0xca, 0x00));
  assert.equal(m.gas_price, undefined);
  const legacy = enclaveTx(readTx({ from: account, to: usdc, nonce: '0x0', gas: '0x5208', gasPrice: '0x1' }, '0x1'));
  assert.equal(legacy.type, 0);
  assert.deepEqual(legacy.value, new Uint8Array());
  assert.deepEqual(legacy.gas_price, Uint8Array.of(1));
  assert.equal(legacy.max_fee_per_gas, undefined);
  const create = enclaveTx(readTx({ ...base, to: undefined }, '0x1'));
  assert.equal(create.to, undefined, 'a contract creation has no to');
});

test('known selectors are named with their arguments, and unlimited approvals called out', () => {
  const cases = [
    ['transfer', transfer, 'transfer', false, ['0x' + '22'.repeat(20), '1500000']],
    ['a limited approve', '0x095ea7b3' + word('33'.repeat(20)) + word('64'), 'approve', false, ['0x' + '33'.repeat(20), '100']],
    ['an unlimited approve', '0x095ea7b3' + word('33'.repeat(20)) + 'f'.repeat(64), 'approve', true, null],
    ['an approve of Permit2\'s maximum, 2^160 - 1', '0x095ea7b3' + word('33'.repeat(20)) + word('f'.repeat(40)), 'approve', true, null],
    ['an approve of 2^128, well under the maximum', '0x095ea7b3' + word('33'.repeat(20)) + word('1' + '0'.repeat(32)), 'approve', true, null],
    ['an approve just under 2^96', '0x095ea7b3' + word('33'.repeat(20)) + word('f'.repeat(24)), 'approve', false, null],
    ['Permit2 approve of its maximum', '0x87517c45' + word('44'.repeat(20)) + word('33'.repeat(20)) + word('f'.repeat(40)) + word('ffffffffffff'), 'approve', true, ['0x' + '44'.repeat(20), '0x' + '33'.repeat(20), ((1n << 160n) - 1n).toString(), '281474976710655']],
    ['Permit2 approve of 5', '0x87517c45' + word('44'.repeat(20)) + word('33'.repeat(20)) + word('5') + word('1'), 'approve', false, null],
    ['approval for all', '0xa22cb465' + word('33'.repeat(20)) + word('1'), 'setApprovalForAll', true, ['0x' + '33'.repeat(20), 'true']],
  ];
  for (const [name, data, fn, unlimited, args] of cases) {
    const got = call(readTx({ ...base, data }, '0x1').data);
    assert.equal(got.name, fn, name);
    assert.equal(got.unlimited, unlimited, name);
    assert.equal(got.approval, fn !== 'transfer', `${name}: an approval is flagged as one`);
    if (args) assert.deepEqual(got.args.map((a) => a[2]), args, name);
  }
  for (const [name, data] of [['an unknown selector', '0xdeadbeef' + word('1')], ['no selector', '0x']]) {
    assert.equal(call(readTx({ ...base, data }, '0x1').data), null, name);
  }
});

test('a known selector with data a contract reads differently is still named, its approval still called out, and warned about', () => {
  const spender = word('33'.repeat(20));
  const cases = [
    // Solidity reads the words it expects and ignores the rest: this is approve(max).
    ['an unlimited approve with a byte after it', '0x095ea7b3' + spender + 'f'.repeat(64) + '00', 'approve', true, /1 bytes follow approve/],
    ['a limited transfer with a word after it', transfer + word('1'), 'transfer', false, /32 bytes follow transfer/],
    // Older compilers drop an address word's high bits.
    ['a dirty spender word', '0x095ea7b3' + 'ff'.repeat(12) + '33'.repeat(20) + word('64'), 'approve', false, /drop them and use 0x3333/],
    ['a Permit2 amount word above 160 bits', '0x87517c45' + word('44'.repeat(20)) + word('33'.repeat(20)) + '01' + '00'.repeat(11) + '00'.repeat(19) + '05' + word('1'), 'approve', false, /above its 160 bits/],
    // ...and take any non-zero bool as true.
    ['approval for all with a bool of 2', '0xa22cb465' + spender + word('2'), 'setApprovalForAll', true, /neither 0 nor 1/],
    ['an approve too short for its arguments', '0x095ea7b3' + spender, 'approve', true, /too short for approve/],
  ];
  for (const [name, data, fn, unlimited, warning] of cases) {
    const got = call(readTx({ ...base, data }, '0x1').data);
    assert.equal(got.name, fn, name);
    assert.equal(got.unlimited, unlimited, name);
    assert.equal(got.warnings.length, 1, name);
    assert.match(got.warnings[0], warning, name);
  }
  assert.deepEqual(call(readTx({ ...base, data: transfer }, '0x1').data).warnings, [], 'a well-formed call has no warning');
});

test('amounts are shown in whole units', () => {
  for (const [wei, want] of [[0n, '0'], [1n, '0.000000000000000001'], [1500000000000000000n, '1.5'], [2n * 10n ** 18n, '2']]) {
    assert.equal(units(wei), want);
  }
});
