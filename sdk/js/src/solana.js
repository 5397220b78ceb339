// The Solana entry: a wallet in the shape of the Solana wallet-standard
// (https://github.com/wallet-standard/wallet-standard), so a dApp's
// wallet adapter finds Niomon next to the others. Connecting and each
// signature open Niomon's wallet, through the same transport as the
// Ethereum provider (transport.js), where the user approves.
//
// Features: standard:connect, standard:disconnect, standard:events,
// solana:signMessage, solana:signTransaction (legacy and version 0
// transactions, in their serialized form). Sending is the dApp's: sign,
// then send through its own RPC.

import { ProviderRpcError, rpcError, UNAUTHORIZED, INVALID_PARAMS } from './errors.js';
import { NIOMON_ICON } from './eip6963.js';

export const SOLANA_CHAINS = Object.freeze(['solana:mainnet', 'solana:devnet', 'solana:testnet']);
const FEATURES = Object.freeze(['solana:signMessage', 'solana:signTransaction']);

export class NiomonSolanaWallet {
  // options.transport: { request(method, params, context) → Promise }
  constructor({ transport, name = 'Niomon', icon = NIOMON_ICON } = {}) {
    if (!transport || typeof transport.request !== 'function') throw new TypeError('NiomonSolanaWallet needs a transport');
    this.transport = transport;
    this.version = '1.0.0';
    this.name = name;
    this.icon = icon;
    this.chains = SOLANA_CHAINS;
    this.account = null;
    this.listeners = new Set();
    this.features = Object.freeze({
      'standard:connect': { version: '1.0.0', connect: (input) => this.connect(input) },
      'standard:disconnect': { version: '1.0.0', disconnect: () => this.disconnect() },
      'standard:events': { version: '1.0.0', on: (event, fn) => this.on(event, fn) },
      'solana:signMessage': { version: '1.0.0', signMessage: (...inputs) => this.each(inputs, (i) => this.signMessage(i)) },
      'solana:signTransaction': {
        version: '1.0.0',
        supportedTransactionVersions: Object.freeze(['legacy', 0]),
        signTransaction: (...inputs) => this.each(inputs, (i) => this.signTransaction(i)),
      },
    });
  }

  get accounts() {
    return this.account ? [this.account] : [];
  }

  on(event, fn) {
    if (event !== 'change') return () => {};
    const entry = { fn };
    this.listeners.add(entry);
    return () => this.listeners.delete(entry);
  }

  changed() {
    for (const { fn } of [...this.listeners]) {
      try {
        fn({ accounts: this.accounts });
      } catch (e) {
        queueMicrotask(() => { throw e; });
      }
    }
  }

  async ask(method, params) {
    try {
      return await this.transport.request(method, params, {});
    } catch (e) {
      throw rpcError(e);
    }
  }

  // connect asks the wallet for the account; silent: only say whether one
  // is connected already.
  async connect({ silent = false } = {}) {
    if (silent || this.account) return { accounts: this.accounts };
    const got = await this.ask('solana_connect', []);
    if (!got || typeof got.address !== 'string' || !(got.publicKey instanceof Uint8Array) || got.publicKey.length !== 32) {
      throw new ProviderRpcError(INVALID_PARAMS, 'the wallet answered no Solana account');
    }
    this.account = Object.freeze({ address: got.address, publicKey: got.publicKey.slice(), chains: SOLANA_CHAINS, features: FEATURES, label: 'Niomon' });
    this.changed();
    return { accounts: this.accounts };
  }

  async disconnect() {
    if (!this.account) return;
    this.account = null;
    this.changed();
  }

  mine(account) {
    if (!this.account) throw new ProviderRpcError(UNAUTHORIZED, 'connect first');
    if (!account || account.address !== this.account.address) throw new ProviderRpcError(UNAUTHORIZED, 'that account is not this wallet\'s');
  }

  // each answers the inputs one after the other (each needs the user).
  async each(inputs, fn) {
    const out = [];
    for (const i of inputs) out.push(await fn(i));
    return out;
  }

  async signMessage({ account, message } = {}) {
    this.mine(account);
    if (!(message instanceof Uint8Array)) throw new ProviderRpcError(INVALID_PARAMS, 'message must be a Uint8Array');
    const got = await this.ask('solana_signMessage', [message]);
    if (!got || !(got.signature instanceof Uint8Array) || got.signature.length !== 64) throw new ProviderRpcError(INVALID_PARAMS, 'the wallet answered no signature');
    return { signedMessage: message, signature: got.signature };
  }

  async signTransaction({ account, transaction, chain } = {}) {
    this.mine(account);
    if (!(transaction instanceof Uint8Array)) throw new ProviderRpcError(INVALID_PARAMS, 'transaction must be a serialized transaction (Uint8Array)');
    if (chain !== undefined && !SOLANA_CHAINS.includes(chain)) throw new ProviderRpcError(INVALID_PARAMS, `chain ${String(chain)} is not one of ${SOLANA_CHAINS.join(', ')}`);
    const got = await this.ask('solana_signTransaction', [transaction, chain]);
    if (!got || !(got.signedTransaction instanceof Uint8Array) || got.signedTransaction.length !== transaction.length) {
      throw new ProviderRpcError(INVALID_PARAMS, 'the wallet answered no signed transaction');
    }
    // Only signature slots may change.
    const end = signaturesEnd(transaction);
    if (end < 0 || got.signedTransaction.subarray(end).some((b, i) => b !== transaction[end + i])) {
      throw new ProviderRpcError(INVALID_PARAMS, 'the wallet changed the transaction, not just its signature');
    }
    return { signedTransaction: got.signedTransaction };
  }
}

// registerWallet makes wallet known to the page's wallet-standard apps:
// those already listening (wallet-standard:register-wallet) and those
// that start later (wallet-standard:app-ready).
export function registerWallet(wallet, { target = globalThis.window } = {}) {
  const callback = ({ register }) => register(wallet);
  target.dispatchEvent(new CustomEvent('wallet-standard:register-wallet', { detail: callback }));
  target.addEventListener('wallet-standard:app-ready', (ev) => callback(ev.detail));
}

// signaturesEnd is where a serialized transaction's signatures end (its
// message starts), or -1.
function signaturesEnd(tx) {
  let n = 0;
  for (let k = 0; k < 3 && k < tx.length; k++) {
    n |= (tx[k] & 0x7f) << (7 * k);
    if (!(tx[k] & 0x80)) {
      const end = k + 1 + 64 * n;
      return end <= tx.length ? end : -1;
    }
  }
  return -1;
}
