// The demo dApp niomon dev serves at its own origin: a site that finds
// the Niomon wallet the way any wallet picker does (EIP-6963), connects,
// and asks for a message, typed data and a transaction to be signed,
// then checks each answer with viem, as a dApp would, and shows it.
//
// window.demo holds the same actions as the buttons, each returning the
// request's promise (the browser tests call them).

import { createProvider, createSolanaWallet } from '../../sdk/js/src/index.js';
import { base58 } from '@scure/base';
import { verifyMessage, verifyTypedData, recoverTransactionAddress, parseTransaction, maxUint256, encodeFunctionData, erc20Abi } from 'viem';

const walletURL = document.querySelector('meta[name="niomon-wallet"]').content;
const $ = (id) => document.getElementById(id);

const USDC = '0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48';
const SPENDER = '0x1111111254eeb25477b68fb85ed929f73a960582';
const RECIPIENT = '0x2222222222222222222222222222222222222222';

let provider = null; // the one the user picks
let account = null;
let nextNonce = 0; // the demo only signs, so it counts its own nonces

function result(id, ok, text) {
  const el = $(id);
  el.className = `result ${ok ? 'ok' : 'bad'}`;
  el.textContent = text;
}

function failed(id, e) {
  result(id, false, `${e.code === 4001 ? 'Rejected' : 'Refused'} (${e.code ?? 'error'}): ${e.message}`);
  throw e;
}

async function busy(button, fn) {
  $(button).disabled = true;
  try {
    return await fn();
  } finally {
    $(button).disabled = false;
  }
}

// --- EIP-6963: list the wallets that announce themselves.

const found = new Map();
window.addEventListener('eip6963:announceProvider', (ev) => {
  const { info, provider: p } = ev.detail || {};
  if (!info || !p || found.has(info.uuid)) return;
  found.set(info.uuid, { info, provider: p });
  const list = $('wallets');
  if (found.size === 1) list.textContent = '';
  const img = document.createElement('img');
  img.src = info.icon;
  img.alt = '';
  const label = document.createElement('span');
  label.innerHTML = '<strong></strong><br><small class="muted"></small>';
  label.querySelector('strong').textContent = info.name;
  label.querySelector('small').textContent = info.rdns;
  const b = document.createElement('button');
  b.type = 'button';
  b.dataset.rdns = info.rdns;
  b.append(img, label);
  b.addEventListener('click', () => connect(info.rdns).catch(() => {}));
  const li = document.createElement('li');
  li.append(b);
  list.append(li);
});

// The SDK, loaded by this page, announces Niomon; asking again finds any
// other wallet too.
const niomon = createProvider({ walletURL, chains: { '0x1': { chainName: 'Ethereum', rpcUrls: [], nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 } } }, chainId: '0x1' });
window.dispatchEvent(new Event('eip6963:requestProvider'));

async function connect(rdns = 'io.niomon') {
  const w = [...found.values()].find((x) => x.info.rdns === rdns);
  if (!w) throw new Error(`no wallet ${rdns} announced itself`);
  provider = w.provider;
  const [a] = await provider.request({ method: 'eth_requestAccounts' });
  return connected(a);
}

async function connected(a) {
  account = a;
  $('account').textContent = a;
  $('chain').textContent = `chain ${parseInt(await provider.request({ method: 'eth_chainId' }), 16)}`;
  $('picker').hidden = true;
  $('connected').hidden = false;
  return [a];
}

// --- personal_sign, checked with viem's verifyMessage.

async function signMessage() {
  const message = $('message-text').value;
  const hex = '0x' + Array.from(new TextEncoder().encode(message), (b) => b.toString(16).padStart(2, '0')).join('');
  const signature = await provider.request({ method: 'personal_sign', params: [hex, account] }).catch((e) => failed('message-result', e));
  return checkMessage(message, signature);
}

async function checkMessage(message, signature) {
  const valid = await verifyMessage({ address: account, message, signature });
  result('message-result', valid, valid ? `Signed by ${account}: viem's verifyMessage says the signature is valid.` : 'viem\'s verifyMessage says the signature is NOT by this account.');
  return { signature, valid };
}

// --- eth_signTypedData_v4 (an unlimited EIP-2612 permit), checked with
// viem's verifyTypedData.

function permit() {
  return {
    domain: { name: 'USD Coin', version: '2', chainId: 1, verifyingContract: USDC },
    types: {
      Permit: [{ name: 'owner', type: 'address' }, { name: 'spender', type: 'address' }, { name: 'value', type: 'uint256' }, { name: 'nonce', type: 'uint256' }, { name: 'deadline', type: 'uint256' }],
    },
    primaryType: 'Permit',
    message: { owner: account, spender: SPENDER, value: maxUint256, nonce: 0n, deadline: 1893456000n },
  };
}

async function signPermit() {
  const td = permit();
  const json = JSON.stringify({
    ...td,
    types: {
      EIP712Domain: [{ name: 'name', type: 'string' }, { name: 'version', type: 'string' }, { name: 'chainId', type: 'uint256' }, { name: 'verifyingContract', type: 'address' }],
      ...td.types,
    },
  }, (_, v) => (typeof v === 'bigint' ? v.toString() : v));
  const signature = await provider.request({ method: 'eth_signTypedData_v4', params: [account, json] }).catch((e) => failed('permit-result', e));
  const valid = await verifyTypedData({ address: account, ...td, signature });
  result('permit-result', valid, valid ? `Signed by ${account}: viem's verifyTypedData says the permit's signature is valid.` : 'viem\'s verifyTypedData says the signature is NOT by this account.');
  return { signature, valid };
}

// --- eth_signTransaction (EIP-1559), the sender recovered with viem.

async function signTransaction() {
  const tx = {
    from: account, to: USDC, value: '0x0', type: '0x2', chainId: '0x1', nonce: `0x${nextNonce.toString(16)}`, gas: '0xea60',
    maxFeePerGas: '0x6fc23ac00', maxPriorityFeePerGas: '0x3b9aca00',
    data: encodeFunctionData({ abi: erc20Abi, functionName: 'transfer', args: [RECIPIENT, 1500000n] }),
  };
  const raw = await provider.request({ method: 'eth_signTransaction', params: [tx] }).catch((e) => failed('tx-result', e));
  const sender = await recoverTransactionAddress({ serializedTransaction: raw });
  const parsed = parseTransaction(raw);
  const valid = sender.toLowerCase() === account.toLowerCase() && parsed.type === 'eip1559' && parsed.to === USDC && parsed.data === tx.data;
  if (valid) nextNonce++;
  result('tx-result', valid, valid ? `viem recovers the sender ${sender} from the signed EIP-1559 transaction (nonce ${parsed.nonce}, ${raw.length / 2 - 1} bytes).` : `viem recovers ${sender}, not this account, or the transaction changed.`);
  return { raw, sender, valid };
}

// --- Solana, through the wallet-standard: the page is an app that asks
// for wallets; Niomon's registers. Signatures are checked with the
// browser's own Ed25519 (WebCrypto).

const solanaWallets = [];
window.addEventListener('wallet-standard:register-wallet', (ev) => ev.detail({ register: (w) => solanaWallets.push(w) }));
createSolanaWallet({ walletURL });
window.dispatchEvent(new CustomEvent('wallet-standard:app-ready', { detail: { register: (w) => solanaWallets.push(w) } }));
$('solana-found').textContent = `Wallets found through the Solana wallet-standard: ${[...new Set(solanaWallets.map((w) => w.name))].join(', ') || 'none'}.`;
let solanaAccount = null;

async function ed25519Valid(publicKey, message, signature) {
  const key = await crypto.subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
  return crypto.subtle.verify({ name: 'Ed25519' }, key, signature, message);
}

async function solanaConnect() {
  const w = solanaWallets.find((x) => x.name === 'Niomon');
  const { accounts } = await w.features['standard:connect'].connect().catch((e) => failed('solana-result', e));
  solanaAccount = accounts[0];
  $('solana-account').textContent = `Solana account ${solanaAccount.address}`;
  return { address: solanaAccount.address };
}

async function solanaSignMessage() {
  const w = solanaWallets.find((x) => x.name === 'Niomon');
  const message = new TextEncoder().encode('Welcome to the Niomon demo dApp, on Solana.');
  const [out] = await w.features['solana:signMessage'].signMessage({ account: solanaAccount, message }).catch((e) => failed('solana-result', e));
  const valid = await ed25519Valid(solanaAccount.publicKey, message, out.signature);
  result('solana-result', valid, valid ? 'The browser\'s Ed25519 says the message\'s signature is by your Solana account.' : 'The signature is NOT by this account.');
  return { signature: base58.encode(out.signature), valid };
}

// A legacy transaction: one System Program transfer of 0.01 SOL from the
// account to a fixed address, with a made-up recent blockhash.
function solanaTransfer(from) {
  const to = new Uint8Array(32).fill(2); // a made-up recipient
  const lamports = 10000000n;
  const data = new Uint8Array(12);
  new DataView(data.buffer).setUint32(0, 2, true);
  new DataView(data.buffer).setBigUint64(4, lamports, true);
  const message = Uint8Array.from([1, 0, 1, 3, ...from, ...to, ...new Uint8Array(32), ...crypto.getRandomValues(new Uint8Array(32)), 1, 2, 2, 0, 1, 12, ...data]);
  return Uint8Array.from([1, ...new Uint8Array(64), ...message]);
}

async function solanaSignTransaction() {
  const w = solanaWallets.find((x) => x.name === 'Niomon');
  const transaction = solanaTransfer(solanaAccount.publicKey);
  const [out] = await w.features['solana:signTransaction'].signTransaction({ account: solanaAccount, transaction, chain: 'solana:devnet' }).catch((e) => failed('solana-result', e));
  const signed = out.signedTransaction;
  const valid = await ed25519Valid(solanaAccount.publicKey, signed.subarray(65), signed.subarray(1, 65));
  result('solana-result', valid, valid ? 'The browser\'s Ed25519 says the transaction is signed by your Solana account.' : 'The transaction is NOT signed by this account.');
  return { transaction: btoa(String.fromCharCode(...signed)), valid };
}

window.demo = { connect, signMessage, signPermit, signTransaction, solanaConnect, solanaSignMessage, solanaSignTransaction };
$('solana-connect').addEventListener('click', () => busy('solana-connect', solanaConnect).catch(() => {}));
$('solana-sign-message').addEventListener('click', () => busy('solana-sign-message', solanaSignMessage).catch(() => {}));
$('solana-sign-tx').addEventListener('click', () => busy('solana-sign-tx', solanaSignTransaction).catch(() => {}));
$('sign-message').addEventListener('click', () => busy('sign-message', signMessage).catch(() => {}));
$('sign-permit').addEventListener('click', () => busy('sign-permit', signPermit).catch(() => {}));
$('sign-tx').addEventListener('click', () => busy('sign-tx', signTransaction).catch(() => {}));

// --- Back from the wallet: where the browser blocked the popup, the SDK
// sent this page to the wallet, which sent it back with the answer. The
// connection itself survives in the session.
(async () => {
  const back = niomon.finishRedirect();
  if (niomon.accounts.length) {
    provider = niomon;
    await connected(niomon.accounts[0]);
  }
  if (!back) return;
  const where = { personal_sign: 'message-result', eth_signTypedData_v4: 'permit-result', eth_signTransaction: 'tx-result' }[back.method];
  if (back.error) {
    if (where) result(where, false, `${back.error.code === 4001 ? 'Rejected' : 'Refused'} (${back.error.code}): ${back.error.message}`);
    else $('wallets').prepend(Object.assign(document.createElement('li'), { className: 'result bad', id: 'connect-result', textContent: `Not connected (${back.error.code}): ${back.error.message}` }));
    return;
  }
  if (back.method === 'personal_sign') {
    const bytes = Uint8Array.from(back.params[0].slice(2).match(/../g) || [], (x) => parseInt(x, 16));
    await checkMessage(new TextDecoder().decode(bytes), back.result);
  } else if (where) {
    result(where, true, `The wallet answered: ${String(back.result).slice(0, 80)}`);
  }
})();
