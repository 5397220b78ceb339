// The wallet's own checks, with viem (loaded only when a site asks), of
// what the server returns for a site: a signed transaction must say what
// the user approved and be signed by their account; a typed-data
// signature must be their account's over the EIP-712 hash of the data
// they were shown.

import { parseTransaction, recoverTransactionAddress, recoverTypedDataAddress } from 'viem';

const TYPES = { 0: 'legacy', 1: 'eip2930', 2: 'eip1559' };

// checkSignedTx returns null when raw (0x hex) is t (ethtx.readTx's form)
// signed by account (lower case), else what differs.
export async function checkSignedTx(raw, t, account) {
  let p;
  try {
    p = parseTransaction(raw);
  } catch {
    return 'the signed transaction does not parse';
  }
  const hex = (b) => '0x' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  const same = [
    ['type', p.type, TYPES[t.type]],
    ['chain', BigInt(p.chainId ?? 0), t.chainId],
    ['nonce', BigInt(p.nonce ?? 0), t.nonce],
    ['gas', p.gas ?? 0n, t.gas],
    ['to', p.to ? p.to.toLowerCase() : null, t.to],
    ['value', p.value ?? 0n, t.value],
    ['data', (p.data ?? '0x').toLowerCase(), hex(t.data)],
    ['fee', p.maxFeePerGas ?? p.gasPrice, t.type === 2 ? t.maxFeePerGas : t.gasPrice],
    ['tip', p.maxPriorityFeePerGas, t.type === 2 ? t.maxPriorityFeePerGas : undefined],
    ['access list', JSON.stringify((p.accessList || []).map((a) => [a.address.toLowerCase(), a.storageKeys.map((k) => k.toLowerCase())])), JSON.stringify(t.accessList.map((a) => [a.address, a.storageKeys]))],
  ];
  for (const [what, got, want] of same) {
    if (got !== want) return `its ${what} is not what you approved`;
  }
  let signer = '';
  try {
    signer = (await recoverTransactionAddress({ serializedTransaction: raw })).toLowerCase();
  } catch {
    return 'its signature does not recover';
  }
  return signer === account ? null : 'it is not signed by your account';
}

// checkTypedSignature returns null when signature (0x hex) is account's
// (lower case) over the EIP-712 hash of data (the parsed JSON the user
// was shown), else what is wrong.
export async function checkTypedSignature(data, signature, account) {
  let signer = '';
  try {
    signer = (await recoverTypedDataAddress({ ...data, signature })).toLowerCase();
  } catch {
    return 'the wallet cannot hash this typed data to check it';
  }
  return signer === account ? null : 'it is not your account\'s signature of the data you were shown';
}
