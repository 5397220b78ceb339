// Ditto's reading of a dApp's EIP-712 typed data (src/typed.js), with
// node's own test runner.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { summary, readTypedData } from '../src/typed.js';

const spender = '0x' + '33'.repeat(20);
const holder = '0x' + 'ab'.repeat(20);
const token = '0x' + '44'.repeat(20);
const max = ((1n << 256n) - 1n).toString();
const domain = { name: 'Dai Stablecoin', version: '1', chainId: 1, verifyingContract: '0x6b175474e89094c44da98b954eedeac495271d0f' };
const row = (sum, label) => (sum.rows.find(([k]) => k === label) || [])[1];

test('each known shape is named, with its amount and whether it is unlimited', () => {
  const cases = [
    ['an EIP-2612 permit of a limited amount', { primaryType: 'Permit', domain, message: { owner: holder, spender, value: '100', nonce: 0, deadline: 1893456000 } }, /EIP-2612 permit/, false, '100 (in'],
    ['an EIP-2612 permit of the maximum', { primaryType: 'Permit', domain, message: { owner: holder, spender, value: max, nonce: 0, deadline: 1893456000 } }, /EIP-2612 permit/, true, 'unlimited'],
    // DAI's permit has no amount: allowed true is every token, with no end.
    ['a DAI permit that allows', { primaryType: 'Permit', domain, message: { holder, spender, nonce: 0, expiry: 0, allowed: true } }, /DAI-style permit/, true, 'unlimited'],
    ['a DAI permit that takes the approval back', { primaryType: 'Permit', domain, message: { holder, spender, nonce: 0, expiry: 0, allowed: false } }, /DAI-style permit/, false, 'none'],
    ['a Permit2 single approval', { primaryType: 'PermitSingle', domain, message: { details: { token, amount: ((1n << 160n) - 1n).toString(), expiration: 1893456000, nonce: 0 }, spender, sigDeadline: 1893456000 } }, /Permit2 approval/, true, 'unlimited (1461501637330902918203684832716283019655932542975)'],
    ['a Permit2 single approval of 2^128, well under its maximum', { primaryType: 'PermitSingle', domain, message: { details: { token, amount: (1n << 128n).toString(), expiration: 0, nonce: 0 }, spender, sigDeadline: 1 } }, /Permit2 approval/, true, 'unlimited'],
    ['a Permit2 single approval just under 2^96', { primaryType: 'PermitSingle', domain, message: { details: { token, amount: ((1n << 96n) - 1n).toString(), expiration: 0, nonce: 0 }, spender, sigDeadline: 1 } }, /Permit2 approval/, false, '79228162514264337593543950335 (in'],
    ['a Permit2 batch with one unlimited token', { primaryType: 'PermitBatch', domain, message: { details: [{ token, amount: '5', expiration: 0, nonce: 0 }, { token, amount: max, expiration: 0, nonce: 0 }], spender, sigDeadline: 1 } }, /several tokens/, true, '5 (in'],
    ['a Permit2 signature transfer', { primaryType: 'PermitTransferFrom', domain, message: { permitted: { token, amount: '7' }, spender, nonce: 0, deadline: 1 } }, /Permit2 transfer/, false, '7 (in'],
    ['an EIP-3009 transfer', { primaryType: 'TransferWithAuthorization', domain, message: { from: holder, to: spender, value: '1000000', validAfter: 0, validBefore: 1893456000, nonce: '0x' + '00'.repeat(32) } }, /EIP-3009/, false, '1000000 (in'],
  ];
  for (const [name, data, shape, unlimited, firstAmount] of cases) {
    const got = summary(data);
    assert.match(got.shape, shape, name);
    assert.equal(got.unlimited, unlimited, name);
    if (firstAmount !== undefined) assert.ok(String(row(got, 'Amount')).startsWith(firstAmount), `${name}: amount ${row(got, 'Amount')}`);
    for (const [k, v] of got.rows) assert.ok(v !== undefined && !String(v).includes('undefined'), `${name}: ${k} reads ${v}`);
  }
});

test('data that names a known type without its fields is not summarised', () => {
  const cases = [
    ['a Permit with neither value nor allowed', { primaryType: 'Permit', domain, message: { owner: holder, spender, nonce: 0 } }],
    ['a PermitSingle without details', { primaryType: 'PermitSingle', domain, message: { spender, sigDeadline: 1 } }],
    ['a PermitBatch with an empty list', { primaryType: 'PermitBatch', domain, message: { details: [], spender, sigDeadline: 1 } }],
    ['an unknown type', { primaryType: 'Mail', domain, message: { contents: 'hi' } }],
    ['nothing', null],
  ];
  for (const [name, data] of cases) {
    const got = summary(data);
    assert.equal(got.shape, null, name);
    assert.equal(got.unlimited, false, name);
    assert.deepEqual(got.rows, [], name);
  }
});

test('typed data sent as an object is read as the JSON that is signed, so wrapper objects cannot hide an approval', () => {
  // postMessage carries Boolean and String wrappers: new Boolean(true) !== true,
  // yet JSON.stringify writes it as true, which is what would be signed.
  const dai = { primaryType: 'Permit', domain, message: { holder, spender, nonce: 0, expiry: 0, allowed: new Boolean(true) } };
  const wrapped = { primaryType: 'Permit', domain, message: { owner: holder, spender, value: new String(max), nonce: 0, deadline: 1 } };
  for (const [name, param] of [['a DAI permit with allowed: new Boolean(true)', dai], ['an EIP-2612 permit with value: new String(max)', wrapped], ['the same as a JSON string', JSON.stringify(dai)]]) {
    const { data, text } = readTypedData(param);
    assert.equal(summary(data).unlimited, true, name);
    assert.deepEqual(JSON.parse(text), data, `${name}: the text signed is the data shown`);
  }
  assert.throws(() => readTypedData('not json'), SyntaxError);
  assert.throws(() => readTypedData(undefined), /not JSON/);
  assert.throws(() => readTypedData('[1]'), /not a JSON object/);
});

test('a Seaport order shows each item given and each payment with its amount and recipient', () => {
  const usdc = '0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48';
  const order = { primaryType: 'OrderComponents', domain, message: { offerer: holder, endTime: 1893456000,
    offer: [{ itemType: 1, token: usdc, identifierOrCriteria: '0', startAmount: '1000000000000', endAmount: '1000000000000' }],
    consideration: [{ itemType: 0, token: '0x' + '00'.repeat(20), identifierOrCriteria: '0', startAmount: '1', endAmount: '1', recipient: spender }] } };
  const got = summary(order);
  assert.match(got.shape, /Seaport order/);
  const text = got.rows.map(([k, v]) => `${k}: ${v}`).join('\n');
  assert.match(text, new RegExp(`You give: 1000000000000 \\(in the token's smallest unit\\) of ERC-20 ${usdc}`));
  assert.match(text, new RegExp(`Paid out: 1 \\(in the token's smallest unit\\) of the native coin to ${spender}`));
  const counts = summary({ ...order, message: { ...order.message, offer: [{}] } });
  assert.equal(counts.shape, null, 'items without their fields are not summarised');
});
