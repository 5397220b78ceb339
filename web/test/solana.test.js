// Ditto's reading of a dApp's Solana transaction (src/solana.js), with
// node's own test runner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { base58 } from '@scure/base';

import { readTx, signerIndex, withSignature, describe, isTransactionMessage, SYSTEM, TOKEN, TOKEN_2022, STAKE, LOADER } from '../src/solana.js';

const me = base58.encode(new Uint8Array(32).fill(7));
const bob = base58.encode(new Uint8Array(32).fill(9));
const key = (s) => base58.decode(s);
const u32 = (n) => Uint8Array.of(n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24);
const u64 = (n) => {
  const out = new Uint8Array(8);
  for (let i = 0; i < 8; i++) out[i] = Number((BigInt(n) >> BigInt(8 * i)) & 0xffn);
  return out;
};
const cat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
};

// A transfer of lamports from me to bob: legacy, or version 0 with no
// lookup tables.
function transferMessage(lamports, v0 = false, program = 2) {
  return cat(v0 ? Uint8Array.of(0x80) : new Uint8Array(), Uint8Array.of(1, 0, 1, 3), key(me), key(bob), key(SYSTEM), new Uint8Array(32).fill(1),
    Uint8Array.of(1, program, 2, 0, 1, 12), u32(2), u64(lamports), v0 ? Uint8Array.of(0) : new Uint8Array());
}
const wire = (msg, n = 1) => cat(Uint8Array.of(n), new Uint8Array(64 * n), msg);

test('a legacy and a version 0 transfer read the same, with the signer found', () => {
  for (const v0 of [false, true]) {
    const msg = transferMessage(1500000000n, v0);
    const tx = readTx(wire(msg));
    assert.equal(tx.version, v0 ? 0 : 'legacy');
    assert.deepEqual(tx.message, msg);
    assert.deepEqual(tx.keys, [me, bob, SYSTEM]);
    assert.equal(signerIndex(tx, me), 0);
    assert.equal(signerIndex(tx, bob), -1, 'bob is not a signer');
    assert.equal(describe(tx.instructions[0]).text, `Send 1.5 SOL from ${me} to ${bob}`);
  }
});

test('the signature goes in its slot and nowhere else', () => {
  const w = wire(transferMessage(1n));
  const sig = new Uint8Array(64).fill(0xee);
  const out = withSignature(w, 0, sig);
  assert.deepEqual(out.subarray(1, 65), sig);
  assert.deepEqual(out.subarray(65), w.subarray(65));
  assert.equal(w[1], 0, 'the input is not changed');
});

test('transactions the wallet must not guess at are refused', () => {
  const msg = transferMessage(1n);
  const cases = [
    ['no bytes', new Uint8Array(), /ends early/],
    ['a signature slot short', cat(Uint8Array.of(1), new Uint8Array(63)), /ends early/],
    ['more slots than signers', wire(msg, 2), /room for 2 signatures and needs 1/],
    ['bytes after the message', cat(wire(msg), Uint8Array.of(0)), /after its message/],
    ['version 1', wire(cat(Uint8Array.of(0x81), msg.subarray(0))), /version 1/],
    ['a program out of range', wire(transferMessage(1n, false, 9)), /program/],
    ['a length not in shortest form', cat(Uint8Array.of(0x81, 0x00), new Uint8Array(64), msg), /shortest/],
    ['longer than a packet', new Uint8Array(1300), /1232/],
    ['not bytes', 'tx', /not bytes/],
  ];
  for (const [name, w, want] of cases) assert.throws(() => readTx(w), want, name);
});

test('token approvals without a limit are called out', () => {
  const approve = (amount) => ({ program: TOKEN, accounts: [me, bob, me], data: cat(Uint8Array.of(4), u64(amount)) });
  assert.equal(describe(approve((1n << 64n) - 1n)).unlimited, true);
  assert.equal(describe(approve(5n)).unlimited, false);
  assert.match(describe(approve(5n)).text, /move 5 token units/);
  assert.match(describe({ program: bob, accounts: [me], data: new Uint8Array(3) }).text, /^Program .*: 3 bytes/);
});

test('instructions a program reads past their end, and those that hand over an account, are still called out', () => {
  const approve = (program, amount, tail) => ({ program, accounts: [me, bob, me], data: cat(Uint8Array.of(4), u64(amount), tail) });
  const cases = [
    // The Token programs read the bytes they expect and ignore the rest.
    ['an unlimited approve with a byte after it', approve(TOKEN, (1n << 64n) - 1n, Uint8Array.of(0)), true, /1 bytes follow the approve/],
    ['the same on Token-2022', approve(TOKEN_2022, (1n << 64n) - 1n, new Uint8Array(8)), true, /8 bytes follow/],
    ['a Token-2022 SetAuthority', { program: TOKEN_2022, accounts: [me, me], data: cat(Uint8Array.of(6, 2, 1), base58.decode(bob)) }, true, null],
    ['a System Assign', { program: SYSTEM, accounts: [me], data: cat(Uint8Array.of(1, 0, 0, 0), base58.decode(bob)) }, true, null],
    ['a System AssignWithSeed', { program: SYSTEM, accounts: [me, me], data: cat(Uint8Array.of(10, 0, 0, 0), new Uint8Array(48)) }, true, null],
    ['a Stake Authorize', { program: STAKE, accounts: [me, me, me], data: cat(u32(1), base58.decode(bob), u32(1)) }, true, null],
    ['an Upgradeable Loader SetAuthority', { program: LOADER, accounts: [me, me, bob], data: u32(4) }, true, null],
    ['a System AuthorizeNonceAccount', { program: SYSTEM, accounts: [me, me], data: cat(u32(7), base58.decode(bob)) }, true, null],
    ['a System AdvanceNonceAccount', { program: SYSTEM, accounts: [me, me, me], data: u32(4) }, undefined, /durable nonce/],
    ['a System transfer with a byte after it', { program: SYSTEM, accounts: [me, bob], data: cat(Uint8Array.of(2, 0, 0, 0), u64(1n), Uint8Array.of(0)) }, undefined, /1 bytes follow the transfer/],
  ];
  for (const [name, ins, unlimited, warning] of cases) {
    const got = describe(ins);
    assert.equal(got.unlimited, unlimited, name);
    if (warning) assert.match(got.warning, warning, name);
    else assert.equal(got.warning, undefined, name);
  }
  assert.match(describe(cases[3][1]).text, new RegExp(`to program ${bob}`));
  const near = describe(approve(TOKEN, (1n << 64n) - 2n, new Uint8Array()));
  assert.equal(near.unlimited, true, 'an approve of 2^64 - 2 is as good as unlimited');
  const small = describe(approve(TOKEN_2022, 5n, new Uint8Array()));
  assert.deepEqual([small.unlimited, small.approval], [false, true], 'a limited approve is still flagged as an approval');
});

test('a transaction\'s message is not signed as a message', () => {
  assert.equal(isTransactionMessage(transferMessage(1n)), true);
  assert.equal(isTransactionMessage(transferMessage(1n, true)), true);
  assert.equal(isTransactionMessage(new TextEncoder().encode('Sign in to example.com')), false);
  assert.equal(isTransactionMessage(new Uint8Array()), false);
});
