// A dApp's Ethereum transaction (eth_signTransaction's JSON-RPC object),
// read for the approval screen and turned into the enclave's transaction
// map. Reading is strict: a field that is not what its name says is an
// error the site gets back, never a guess the user approves.

const HEX = /^0x[0-9a-fA-F]*$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

// Chains the wallet names, with their native unit; another chain is shown
// by its id.
export const CHAINS = {
  1: ['Ethereum', 'ETH'], 10: ['OP Mainnet', 'ETH'], 56: ['BNB Smart Chain', 'BNB'], 137: ['Polygon', 'POL'],
  8453: ['Base', 'ETH'], 42161: ['Arbitrum One', 'ETH'], 43114: ['Avalanche C-Chain', 'AVAX'], 11155111: ['Sepolia', 'ETH'],
};

// Functions the wallet names by their selector: name, argument names and
// types (address, uint256, bool: all one 32-byte word each).
export const FUNCTIONS = {
  a9059cbb: ['transfer', [['to', 'address'], ['amount', 'uint256']]],
  '095ea7b3': ['approve', [['spender', 'address'], ['amount', 'uint256']]],
  '23b872dd': ['transferFrom', [['from', 'address'], ['to', 'address'], ['amount', 'uint256']]],
  39509351: ['increaseAllowance', [['spender', 'address'], ['added', 'uint256']]],
  a22cb465: ['setApprovalForAll', [['operator', 'address'], ['approved', 'bool']]],
  '42842e0e': ['safeTransferFrom', [['from', 'address'], ['to', 'address'], ['tokenId', 'uint256']]],
  // Permit2's AllowanceTransfer.approve: most users have already approved
  // Permit2 itself without a limit, so this hands over their tokens.
  '87517c45': ['approve', [['token', 'address'], ['spender', 'address'], ['amount', 'uint160'], ['expiration', 'uint48']]],
};

const APPROVALS = new Set(['approve', 'increaseAllowance', 'setApprovalForAll']);

// An amount of 2^96 or more is no real balance (79 billion whole tokens
// of 18 decimals): an approval of it is called unlimited. Permit2's
// maximum, 2^160 - 1, and 2^256 - 1 are far above; an attacker who asks
// for 2^128 instead of the maximum gets the same warning.
export const UNLIMITED = 1n << 96n;

function quantity(name, v, required) {
  if (v === undefined || v === null) {
    if (required) throw new Error(`the transaction has no ${name}`);
    return undefined;
  }
  let n;
  try {
    n = typeof v === 'number' ? BigInt(v) : (typeof v === 'string' && HEX.test(v) && v.length > 2 ? BigInt(v) : NaN);
  } catch {
    n = NaN;
  }
  if (typeof n !== 'bigint' || n < 0n || n >= 1n << 256n) throw new Error(`${name} must be a 0x-prefixed hex quantity`);
  return n;
}

function bytesOf(name, v) {
  if (typeof v !== 'string' || !HEX.test(v) || v.length % 2 !== 0) throw new Error(`${name} must be 0x-prefixed hex bytes`);
  const out = new Uint8Array((v.length - 2) / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(v.slice(2 + 2 * i, 4 + 2 * i), 16);
  return out;
}

// readTx checks a site's transaction object and returns it as numbers and
// bytes: { type, chainId, nonce, gas, to (lower-case hex or null), value,
// data (Uint8Array), maxFeePerGas, maxPriorityFeePerGas, gasPrice,
// accessList }. chainId falls back to the chain the site is on.
export function readTx(tx, siteChainId) {
  if (!tx || typeof tx !== 'object' || Array.isArray(tx)) throw new Error('the transaction is not an object');
  const known = new Set(['from', 'to', 'value', 'data', 'input', 'gas', 'nonce', 'chainId', 'type', 'gasPrice', 'maxFeePerGas', 'maxPriorityFeePerGas', 'accessList', 'gasLimit']);
  for (const k of Object.keys(tx)) if (!known.has(k)) throw new Error(`the wallet does not sign transactions with ${k.slice(0, 40)}`);
  if (tx.data !== undefined && tx.input !== undefined && tx.data !== tx.input) throw new Error('data and input differ');
  const out = {
    chainId: quantity('chainId', tx.chainId ?? siteChainId, true),
    nonce: quantity('nonce', tx.nonce, true),
    gas: quantity('gas', tx.gas ?? tx.gasLimit, true),
    value: quantity('value', tx.value, false) ?? 0n,
    data: tx.data ?? tx.input ? bytesOf('data', tx.data ?? tx.input) : new Uint8Array(),
    to: null,
    gasPrice: quantity('gasPrice', tx.gasPrice, false),
    maxFeePerGas: quantity('maxFeePerGas', tx.maxFeePerGas, false),
    maxPriorityFeePerGas: quantity('maxPriorityFeePerGas', tx.maxPriorityFeePerGas, false),
    accessList: [],
  };
  if (siteChainId !== undefined && tx.chainId !== undefined && quantity('chainId', siteChainId, true) !== out.chainId) {
    throw new Error(`the transaction is for chain ${out.chainId}, and the site is on chain ${BigInt(siteChainId)}`);
  }
  if (out.chainId === 0n) throw new Error('chainId 0 signs a transaction every chain accepts');
  if (out.nonce >= 1n << 64n || out.gas >= 1n << 64n) throw new Error('nonce and gas must fit in 64 bits');
  if (tx.to !== undefined && tx.to !== null) {
    if (typeof tx.to !== 'string' || !ADDRESS.test(tx.to)) throw new Error('to must be a 20-byte address');
    out.to = tx.to.toLowerCase();
  }
  const type = tx.type === undefined ? (out.gasPrice !== undefined ? 0n : 2n) : quantity('type', tx.type, true);
  if (type > 2n) throw new Error(`the wallet signs transactions of type 0, 1 and 2, not ${type}`);
  out.type = Number(type);
  if (out.type === 2) {
    if (out.gasPrice !== undefined) throw new Error('an EIP-1559 transaction takes maxFeePerGas, not gasPrice');
    if (out.maxFeePerGas === undefined || out.maxPriorityFeePerGas === undefined) throw new Error('the transaction needs maxFeePerGas and maxPriorityFeePerGas');
    if (out.maxPriorityFeePerGas > out.maxFeePerGas) throw new Error('maxPriorityFeePerGas is above maxFeePerGas');
  } else {
    if (out.gasPrice === undefined) throw new Error('the transaction needs gasPrice');
    if (out.maxFeePerGas !== undefined || out.maxPriorityFeePerGas !== undefined) throw new Error(`a type ${out.type} transaction takes gasPrice only`);
  }
  if (tx.accessList !== undefined) {
    if (out.type === 0 || !Array.isArray(tx.accessList)) throw new Error('accessList is a list, on transactions of type 1 and 2');
    out.accessList = tx.accessList.map((a) => {
      if (!a || !ADDRESS.test(a.address) || !Array.isArray(a.storageKeys)) throw new Error('an accessList entry needs an address and storageKeys');
      return { address: a.address.toLowerCase(), storageKeys: a.storageKeys.map((k) => {
        if (typeof k !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(k)) throw new Error('a storage key is 32 bytes');
        return k.toLowerCase();
      }) };
    });
  }
  return out;
}

function qbytes(n) {
  if (n === 0n) return new Uint8Array();
  let hex = n.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  return bytesOf('quantity', '0x' + hex);
}

// enclaveTx is the transaction map the enclave signs (eth.Tx in CBOR).
export function enclaveTx(t) {
  const m = { type: t.type, chain_id: qbytes(t.chainId), nonce: t.nonce, gas: t.gas, value: qbytes(t.value), data: t.data };
  if (t.to) m.to = bytesOf('to', t.to);
  if (t.type === 2) {
    m.max_fee_per_gas = qbytes(t.maxFeePerGas);
    m.max_priority_fee_per_gas = qbytes(t.maxPriorityFeePerGas);
  } else {
    m.gas_price = qbytes(t.gasPrice);
  }
  if (t.type !== 0 && t.accessList.length) {
    m.access_list = t.accessList.map((a) => ({ address: bytesOf('address', a.address), storage_keys: a.storageKeys.map((k) => bytesOf('key', k)) }));
  }
  return m;
}

// units shows an amount of 18-decimal units (wei) in whole ones.
export function units(n, decimals = 18) {
  const base = 10n ** BigInt(decimals);
  const whole = n / base;
  const frac = (n % base).toString().padStart(decimals, '0').replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : `${whole}`;
}

// call names the function the data calls when its selector is known:
// { name, args: [[name, type, shown value]], unlimited, approval,
// warnings } or null. It reads the data as a contract might, not only as it should:
// Solidity reads the words it expects and ignores any bytes after them,
// and older compilers drop the high bits of an address word and take any
// non-zero bool as true. So extra bytes, dirty words and data too short
// for the arguments are read that way and warned about, never a reason to
// fall back to showing hex without the warning an approval deserves.
export function call(data) {
  if (data.length < 4) return null;
  const sel = Array.from(data.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join('');
  const f = FUNCTIONS[sel];
  if (!f) return null;
  const need = 4 + 32 * f[1].length;
  const warnings = [];
  const approval = APPROVALS.has(f[0]);
  if (data.length < need) {
    warnings.push(`The data is ${data.length} bytes, too short for ${f[0]}'s arguments (${need}). A contract may refuse it, or read the missing bytes as zeros.`);
    return { name: f[0], args: [], unlimited: approval, approval, warnings };
  }
  if (data.length > need) {
    warnings.push(`${data.length - need} bytes follow ${f[0]}'s arguments. The contract ignores them, or reads them in a way the wallet cannot show.`);
  }
  let unlimited = false;
  const args = [];
  for (let i = 0; i < f[1].length; i++) {
    const word = data.subarray(4 + 32 * i, 36 + 32 * i);
    const n = BigInt('0x' + Array.from(word, (b) => b.toString(16).padStart(2, '0')).join(''));
    const [name, type] = f[1][i];
    if (type === 'address') {
      const a = '0x' + (n & ((1n << 160n) - 1n)).toString(16).padStart(40, '0');
      if (n >= 1n << 160n) warnings.push(`The ${name} word has bits set above its 20 bytes. Some contracts refuse it, others drop them and use ${a}.`);
      args.push([name, type, a]);
    } else if (type === 'bool') {
      if (n > 1n) warnings.push(`The ${name} word is neither 0 nor 1. Some contracts refuse it, others read it as true.`);
      args.push([name, type, n !== 0n ? 'true' : 'false']);
      if (f[0] === 'setApprovalForAll' && n !== 0n) unlimited = true;
    } else {
      const bits = BigInt(type.slice(4));
      const v = n & ((1n << bits) - 1n);
      if (v !== n) warnings.push(`The ${name} word has bits set above its ${bits} bits. Some contracts refuse it, others drop them and use ${v}.`);
      args.push([name, type, v.toString()]);
      if ((f[0] === 'approve' || f[0] === 'increaseAllowance') && name !== 'expiration' && v >= UNLIMITED) unlimited = true;
    }
  }
  return { name: f[0], args, unlimited, approval, warnings };
}
