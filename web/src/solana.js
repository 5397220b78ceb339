// A dApp's Solana transaction (the wire form: signatures, then the
// message, legacy or version 0), read for the approval screen; and the
// place of the user's signature in it. Reading is strict: anything left
// over or out of range is an error the site gets back.
//
// https://solana.com/docs/core/transactions (the wire format)

import { base58 } from '@scure/base';

export const SYSTEM = '11111111111111111111111111111111';
export const TOKEN = 'TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA';
export const TOKEN_2022 = 'TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb';
export const STAKE = 'Stake11111111111111111111111111111111111111';
export const LOADER = 'BPFLoaderUpgradeab1e11111111111111111111111';
const PROGRAMS = {
  [SYSTEM]: 'System Program',
  [TOKEN]: 'Token Program',
  [TOKEN_2022]: 'Token-2022 Program',
  [STAKE]: 'Stake Program',
  [LOADER]: 'Upgradeable Loader',
  ComputeBudget111111111111111111111111111111: 'Compute Budget',
  ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL: 'Associated Token Account Program',
  MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr: 'Memo Program',
};
const U64_MAX = (1n << 64n) - 1n;
// An approval of 2^63 units or more is called unlimited: no real balance
// comes near (9.2 billion whole tokens of 9 decimals), and an attacker who
// asks for 2^64 - 2 instead of the maximum gets the same warning.
const UNLIMITED = 1n << 63n;

class Reader {
  constructor(b) {
    this.b = b;
    this.i = 0;
  }

  bytes(n) {
    if (this.i + n > this.b.length) throw new Error('the transaction ends early');
    const out = this.b.subarray(this.i, this.i + n);
    this.i += n;
    return out;
  }

  u8() {
    return this.bytes(1)[0];
  }

  // compact-u16: 1 to 3 bytes, 7 bits each, shortest form only.
  shortvec() {
    let v = 0;
    for (let k = 0; k < 3; k++) {
      const b = this.u8();
      v |= (b & 0x7f) << (7 * k);
      if (!(b & 0x80)) {
        if (k > 0 && b === 0) throw new Error('a length is not in its shortest form');
        if (v > 0xffff) break;
        return v;
      }
    }
    throw new Error('a length is out of range');
  }
}

function le(bytes) {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  return n;
}

// readTx reads a serialized transaction: { signatures (Uint8Array[]),
// message (the bytes signed), version ('legacy' or 0), header, keys
// (base58), blockhash, instructions [{ program, accounts, data }],
// lookups (the number of address lookup tables) }.
export function readTx(wire) {
  if (!(wire instanceof Uint8Array)) throw new Error('the transaction is not bytes');
  if (wire.length > 1232) throw new Error('the transaction is longer than a Solana packet (1232 bytes)');
  const r = new Reader(wire);
  const nsig = r.shortvec();
  const signatures = [];
  for (let i = 0; i < nsig; i++) signatures.push(r.bytes(64));
  const start = r.i;
  let version = 'legacy';
  if (wire[start] & 0x80) {
    version = r.u8() & 0x7f;
    if (version !== 0) throw new Error(`the wallet reads transactions of version 0 and legacy ones, not version ${version}`);
  }
  const header = { required: r.u8(), readonlySigned: r.u8(), readonlyUnsigned: r.u8() };
  const nkeys = r.shortvec();
  const keys = [];
  for (let i = 0; i < nkeys; i++) keys.push(base58.encode(r.bytes(32)));
  if (header.required === 0 || header.required > nkeys || header.readonlySigned >= header.required || header.readonlyUnsigned > nkeys - header.required) {
    throw new Error('the message header does not fit its accounts');
  }
  if (nsig !== header.required) throw new Error(`the transaction has room for ${nsig} signatures and needs ${header.required}`);
  const blockhash = base58.encode(r.bytes(32));
  const ninstr = r.shortvec();
  const raw = [];
  for (let i = 0; i < ninstr; i++) {
    const program = r.u8();
    const n = r.shortvec();
    const accounts = Array.from(r.bytes(n));
    const data = r.bytes(r.shortvec());
    raw.push({ program, accounts, data });
  }
  let lookups = 0;
  let looked = 0;
  if (version === 0) {
    lookups = r.shortvec();
    for (let i = 0; i < lookups; i++) {
      r.bytes(32);
      looked += r.bytes(r.shortvec()).length;
      looked += r.bytes(r.shortvec()).length;
    }
  }
  if (r.i !== wire.length) throw new Error('the transaction has bytes after its message');
  const total = nkeys + looked;
  const name = (k) => (k < nkeys ? keys[k] : `account ${k} of a lookup table`);
  const instructions = raw.map((x) => {
    if (x.program >= nkeys) throw new Error('an instruction\'s program is not among the transaction\'s accounts');
    if (x.accounts.some((a) => a >= total)) throw new Error('an instruction names an account the transaction does not have');
    return { program: keys[x.program], accounts: x.accounts.map(name), data: x.data };
  });
  return { signatures, message: wire.subarray(start), version, header, keys, blockhash, instructions, lookups };
}

// isTransactionMessage reports whether bytes read as a transaction's
// message: the wallet does not sign those as a "message", since the
// signature would make the transaction valid.
export function isTransactionMessage(bytes) {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) return false;
  const n = bytes[0] & 0x80 ? bytes[1] : bytes[0];
  if (!n || n > 127) return false;
  const wire = new Uint8Array(1 + 64 * n + bytes.length);
  wire[0] = n;
  wire.set(bytes, 1 + 64 * n);
  try {
    readTx(wire);
    return true;
  } catch {
    return false;
  }
}

// signerIndex is the place of key (base58) among the transaction's
// signers, or -1.
export function signerIndex(tx, key) {
  return tx.keys.slice(0, tx.header.required).indexOf(key);
}

// withSignature returns the wire transaction with sig at signer index i.
export function withSignature(wire, i, sig) {
  const out = new Uint8Array(wire);
  const r = new Reader(out);
  r.shortvec();
  out.set(sig, r.i + 64 * i);
  return out;
}

// describe says what an instruction does, for the known programs: a text,
// whether it hands over control of tokens or SOL without a limit, and a
// warning when its data is not what a wallet sends. The programs read the
// bytes they expect and ignore any after them (the Token programs' unpack,
// the System Program's bincode), so an instruction is read that way, with
// extra bytes warned about: never a reason to hide what it does.
export function describe(ins) {
  const d = ins.data;
  const name = PROGRAMS[ins.program];
  const extra = (need, what) => (d.length > need ? { warning: `${d.length - need} bytes follow the ${what} instruction's data. The program ignores them, or reads them in a way the wallet cannot show.` } : {});
  if (ins.program === SYSTEM && d.length >= 4) {
    const op = le(d.subarray(0, 4));
    if (op === 2n && d.length >= 12) {
      return { text: `Send ${sol(le(d.subarray(4, 12)))} SOL from ${ins.accounts[0]} to ${ins.accounts[1]}`, ...extra(12, 'transfer') };
    }
    if (op === 1n && d.length >= 36) {
      return { text: `Hand ${ins.accounts[0]} to program ${base58.encode(d.subarray(4, 36))}: it can then do anything with the account and its SOL`, unlimited: true, ...extra(36, 'assign') };
    }
    if (op === 10n) {
      return { text: `Hand an account derived from ${ins.accounts[1]} to another program: it can then do anything with the account and its SOL`, unlimited: true };
    }
    if (op === 7n && d.length >= 36) {
      return { text: `Make ${base58.encode(d.subarray(4, 36))} the authority of the nonce account ${ins.accounts[0]}`, unlimited: true };
    }
    if (op === 4n) {
      return { text: `Advance the nonce account ${ins.accounts[0]}: this transaction does not expire, and can be sent at any later time`, warning: 'The transaction uses a durable nonce: it stays valid until the nonce is used, not for the usual two minutes.' };
    }
  }
  // Stake: Authorize (1), AuthorizeWithSeed (8), AuthorizeChecked (10), AuthorizeCheckedWithSeed (11).
  if (ins.program === STAKE && d.length >= 4 && [1n, 8n, 10n, 11n].includes(le(d.subarray(0, 4)))) {
    return { text: `Change who controls the stake account ${ins.accounts[0]}: the new authority can withdraw or move the stake`, unlimited: true };
  }
  // Upgradeable Loader: SetAuthority (4), SetAuthorityChecked (7).
  if (ins.program === LOADER && d.length >= 4 && (le(d.subarray(0, 4)) === 4n || le(d.subarray(0, 4)) === 7n)) {
    return { text: `Change the upgrade authority of ${ins.accounts[0]}: the new one can replace the program's code`, unlimited: true };
  }
  if ((ins.program === TOKEN || ins.program === TOKEN_2022) && d.length >= 1) {
    const amount = d.length >= 9 ? le(d.subarray(1, 9)) : 0n;
    switch (d[0]) {
      case 3:
        if (d.length >= 9) return { text: `Move ${amount} token units from ${ins.accounts[0]} to ${ins.accounts[1]}`, ...extra(9, 'transfer') };
        break;
      case 12:
        if (d.length >= 10) return { text: `Move ${units(amount, d[9])} tokens of mint ${ins.accounts[1]} from ${ins.accounts[0]} to ${ins.accounts[2]}`, ...extra(10, 'transfer') };
        break;
      case 4:
        if (d.length >= 9) return { text: `Let ${ins.accounts[1]} move ${amount === U64_MAX ? 'all' : amount} token units from ${ins.accounts[0]}`, approval: true, unlimited: amount >= UNLIMITED, ...extra(9, 'approve') };
        break;
      case 13:
        if (d.length >= 10) return { text: `Let ${ins.accounts[2]} move ${amount === U64_MAX ? 'all' : units(amount, d[9])} tokens from ${ins.accounts[0]}`, approval: true, unlimited: amount >= UNLIMITED, ...extra(10, 'approve') };
        break;
      case 6:
        return { text: `Change an authority of ${ins.accounts[0]}: the new one can do anything with it`, unlimited: true };
      case 9:
        return { text: `Close the token account ${ins.accounts[0]}; its SOL goes to ${ins.accounts[1]}` };
    }
  }
  return { text: `${name || `Program ${ins.program}`}: ${d.length} bytes of instruction data, ${ins.accounts.length} accounts` };
}

function units(n, decimals) {
  const base = 10n ** BigInt(decimals);
  const frac = (n % base).toString().padStart(decimals, '0').replace(/0+$/, '');
  return frac ? `${n / base}.${frac}` : `${n / base}`;
}

// sol shows lamports in SOL.
export function sol(lamports) {
  return units(lamports, 9);
}
