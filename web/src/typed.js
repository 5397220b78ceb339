// What a dApp's EIP-712 typed data means, for the approval screen: the
// known shapes named (EIP-2612 and DAI permits, Permit2's allowances and
// signature transfers, Seaport orders) with their token, spender, amount
// and deadline, and an unlimited approval called out. A shape is named
// only when the message has the fields the shape has; otherwise nothing
// is summarised and the screen shows the whole tree open.
//
// https://eips.ethereum.org/EIPS/eip-2612 (permit)
// DAI's permit: Permit(address holder,address spender,uint256 nonce,uint256 expiry,bool allowed)
// Permit2: PermitSingle, PermitBatch (AllowanceTransfer), PermitTransferFrom, PermitBatchTransferFrom (SignatureTransfer)
// https://eips.ethereum.org/EIPS/eip-3009 (TransferWithAuthorization); Seaport's OrderComponents (OfferItem, ConsiderationItem)

import { UNLIMITED } from './ethtx.js';

// readTypedData reads eth_signTypedData_v4's second parameter, a JSON
// string or an object, into { data, text }: text is the JSON the wallet
// signs, and data is parsed back from it, so the screen shows exactly what
// is signed. An object is not trusted as it is: postMessage carries
// Boolean and String wrapper objects, which read differently here
// (new Boolean(true) !== true) than once they are JSON.
export function readTypedData(param) {
  const text = typeof param === 'string' ? param : JSON.stringify(param);
  if (typeof text !== 'string') throw new Error('the typed data is not JSON');
  const data = JSON.parse(text);
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw new Error('the typed data is not a JSON object');
  return { data, text: JSON.stringify(data) };
}

function big(v) {
  if (typeof v === 'bigint') return v;
  if (typeof v !== 'string' && typeof v !== 'number') return null;
  try {
    return BigInt(v);
  } catch {
    return null;
  }
}

function amount(v) {
  const n = big(v);
  if (n === null) return String(v);
  return n >= UNLIMITED ? `unlimited (${n})` : `${n} (in the token's smallest unit)`;
}

function when(v) {
  const n = big(v);
  if (n === null) return String(v);
  if (n === 0n) return 'none';
  return n < 10n ** 12n ? `${new Date(Number(n) * 1000).toISOString().replace('.000Z', ' UTC').replace('T', ' ')} (${n})` : String(n);
}

const has = (o, ...keys) => o !== null && typeof o === 'object' && !Array.isArray(o) && keys.every((k) => o[k] !== undefined && o[k] !== null);
const isUnlimited = (v) => (big(v) ?? 0n) >= UNLIMITED;

// summary returns { shape, rows: [[label, text]], unlimited } for a known
// shape, or { shape: null, rows: [], unlimited: false }.
export function summary(data) {
  const primary = data && data.primaryType;
  const msg = (data && data.message) || {};
  const domain = (data && data.domain) || {};
  const token = `${domain.name ?? '?'} at ${domain.verifyingContract ?? '?'}`;
  if (primary === 'Permit' && has(msg, 'holder', 'spender', 'allowed', 'expiry')) {
    const all = msg.allowed === true || msg.allowed === 'true';
    return {
      shape: 'a DAI-style permit: it lets the spender move your tokens without asking again',
      rows: [['Token', token], ['Holder', msg.holder], ['Spender', msg.spender], ['Amount', all ? 'unlimited (allowed: true)' : 'none: this takes the approval back (allowed: false)'], ['Deadline', when(msg.expiry)]],
      unlimited: all,
    };
  }
  if (primary === 'Permit' && has(msg, 'spender', 'value', 'deadline')) {
    return {
      shape: 'an EIP-2612 permit: it lets the spender move your tokens without asking again',
      rows: [['Token', token], ['Spender', msg.spender], ['Amount', amount(msg.value)], ['Deadline', when(msg.deadline)]],
      unlimited: isUnlimited(msg.value),
    };
  }
  if ((primary === 'PermitSingle' || primary === 'PermitBatch') && has(msg, 'spender', 'details', 'sigDeadline')) {
    const details = primary === 'PermitBatch' ? msg.details : [msg.details];
    if (Array.isArray(details) && details.length && details.every((d) => has(d, 'token', 'amount', 'expiration'))) {
      return {
        shape: primary === 'PermitSingle' ? 'a Permit2 approval: it lets the spender move your tokens through Permit2' : 'a Permit2 approval of several tokens',
        rows: [...details.flatMap((d) => [['Token', d.token], ['Amount', amount(d.amount)], ['Expires', when(d.expiration)]]), ['Spender', msg.spender], ['Signature valid until', when(msg.sigDeadline)]],
        unlimited: details.some((d) => isUnlimited(d.amount)),
      };
    }
  }
  if ((primary === 'PermitTransferFrom' || primary === 'PermitBatchTransferFrom') && has(msg, 'permitted', 'spender', 'deadline')) {
    const permitted = primary === 'PermitBatchTransferFrom' ? msg.permitted : [msg.permitted];
    if (Array.isArray(permitted) && permitted.length && permitted.every((p) => has(p, 'token', 'amount'))) {
      return {
        shape: 'a Permit2 transfer: the spender may take these tokens once, until the deadline',
        rows: [...permitted.flatMap((p) => [['Token', p.token], ['Amount', amount(p.amount)]]), ['Spender', msg.spender], ['Deadline', when(msg.deadline)]],
        unlimited: permitted.some((p) => isUnlimited(p.amount)),
      };
    }
  }
  if ((primary === 'TransferWithAuthorization' || primary === 'ReceiveWithAuthorization') && has(msg, 'from', 'to', 'value')) {
    return {
      shape: 'an EIP-3009 transfer authorization: anyone who holds this signature can move the amount to the recipient',
      rows: [['Token', token], ['From', msg.from], ['To', msg.to], ['Amount', amount(msg.value)], ['Valid after', when(msg.validAfter)], ['Valid before', when(msg.validBefore)]],
      unlimited: isUnlimited(msg.value),
    };
  }
  const items = (list) => Array.isArray(list) && list.every((i) => has(i, 'itemType', 'token', 'startAmount', 'endAmount'));
  if (primary === 'OrderComponents' && has(msg, 'offerer', 'offer', 'consideration') && items(msg.offer) && items(msg.consideration)) {
    const kinds = ['the native coin', 'ERC-20', 'ERC-721', 'ERC-1155', 'ERC-721 (any in a set)', 'ERC-1155 (any in a set)'];
    const item = (i) => {
      const kind = kinds[Number(i.itemType)] ?? `item type ${i.itemType}`;
      const n = String(i.startAmount) === String(i.endAmount) ? amount(i.startAmount) : `${amount(i.startAmount)} falling or rising to ${amount(i.endAmount)}`;
      const id = Number(i.itemType) >= 2 ? `, id ${i.identifierOrCriteria}` : '';
      return `${n} of ${kind}${Number(i.itemType) === 0 ? '' : ` ${i.token}`}${id}`;
    };
    return {
      shape: 'a Seaport order: it lists what you give and what you get for it',
      rows: [['Offerer', msg.offerer],
        ...msg.offer.map((i) => ['You give', item(i)]),
        ...msg.consideration.map((i) => ['Paid out', `${item(i)} to ${i.recipient ?? '?'}`]),
        ['Ends', when(msg.endTime)]],
      unlimited: false,
    };
  }
  return { shape: null, rows: [], unlimited: false };
}
