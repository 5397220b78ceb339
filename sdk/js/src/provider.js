// The EIP-1193 provider a dApp talks to. It keeps the connection's state
// (accounts, chain) and sends what needs the user (accounts, signatures)
// to Niomon's wallet through a transport (transport.js: a popup spoken
// to with postMessage); what a node answers (balances, calls, sending a
// signed transaction) goes to the RPC URL the dApp configured for the
// chain.

import {
  ProviderRpcError, rpcError, UNAUTHORIZED, UNSUPPORTED_METHOD, DISCONNECTED, CHAIN_DISCONNECTED, UNRECOGNIZED_CHAIN, INVALID_PARAMS,
} from './errors.js';

const HEX_CHAIN = /^0x[1-9a-f][0-9a-f]*$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

// Methods the wallet answers, with the position of the account in params
// (-1: none).
const WALLET_METHODS = {
  personal_sign: 1,
  eth_signTypedData_v4: 0,
  eth_signTransaction: -1,
};

// Read-only methods a node answers.
const NODE_METHODS = new Set([
  'eth_blockNumber', 'eth_call', 'eth_estimateGas', 'eth_feeHistory', 'eth_gasPrice', 'eth_getBalance',
  'eth_getBlockByHash', 'eth_getBlockByNumber', 'eth_getCode', 'eth_getLogs', 'eth_getStorageAt',
  'eth_getTransactionByHash', 'eth_getTransactionCount', 'eth_getTransactionReceipt',
  'eth_maxPriorityFeePerGas', 'net_version',
]);

function normalizeChainId(id) {
  const s = typeof id === 'number' ? `0x${id.toString(16)}` : String(id).toLowerCase();
  if (!HEX_CHAIN.test(s)) throw new ProviderRpcError(INVALID_PARAMS, `chainId must be a 0x-prefixed hex number, not ${String(id)}`);
  return s;
}

export class NiomonProvider {
  // options.transport: { request(method, params, context) → Promise }
  // options.chains: { [chainId]: { chainName, rpcUrls: [url], nativeCurrency } }
  // options.chainId: the chain to start on (default: the first configured, else 0x1)
  // options.fetch: for node requests (default: globalThis.fetch)
  // options.storage: where the connection survives a reload or a
  // redirect (sessionStorage in a page; none: it does not)
  constructor({ transport, chains = {}, chainId, fetch: fetchFn, storage } = {}) {
    if (!transport || typeof transport.request !== 'function') throw new TypeError('NiomonProvider needs a transport');
    this.transport = transport;
    this.fetch = fetchFn || globalThis.fetch;
    this.chains = new Map();
    for (const [id, c] of Object.entries(chains)) this.chains.set(normalizeChainId(id), { ...c });
    this.chainId = chainId !== undefined ? normalizeChainId(chainId) : (this.chains.keys().next().value || '0x1');
    this.accounts = [];
    this.storage = storage || null;
    this.storageKey = `niomon:accounts:${transport.walletOrigin || 'wallet'}`;
    try {
      const kept = this.storage && JSON.parse(this.storage.getItem(this.storageKey));
      if (Array.isArray(kept) && kept.every((a) => ADDRESS.test(a))) this.accounts = kept;
    } catch { /* nothing kept */ }
    this.listeners = new Map();
    this.isNiomon = true;
    this.rpcID = 0;
  }

  // --- events (EIP-1193: on, removeListener; once and off for convenience)

  on(event, fn) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(fn);
    return this;
  }

  once(event, fn) {
    const wrapped = (...args) => {
      this.removeListener(event, wrapped);
      fn(...args);
    };
    return this.on(event, wrapped);
  }

  removeListener(event, fn) {
    this.listeners.get(event)?.delete(fn);
    return this;
  }

  off(event, fn) {
    return this.removeListener(event, fn);
  }

  emit(event, ...args) {
    for (const fn of [...(this.listeners.get(event) || [])]) {
      try {
        fn(...args);
      } catch (e) {
        queueMicrotask(() => { throw e; }); // a listener's error is its own
      }
    }
  }

  // --- EIP-1193 request

  async request(args) {
    if (!args || typeof args.method !== 'string') throw new ProviderRpcError(INVALID_PARAMS, 'request needs { method, params }');
    const { method } = args;
    const params = args.params === undefined ? [] : args.params;
    if (!Array.isArray(params)) throw new ProviderRpcError(INVALID_PARAMS, 'params must be an array');
    switch (method) {
      case 'eth_chainId':
        return this.chainId;
      case 'eth_accounts':
        return [...this.accounts];
      case 'eth_requestAccounts':
        return this.requestAccounts();
      case 'wallet_switchEthereumChain':
        return this.switchChain(params[0]);
      case 'wallet_addEthereumChain':
        return this.addChain(params[0]);
      case 'eth_sendTransaction':
        return this.sendTransaction(params[0]);
    }
    if (method in WALLET_METHODS) return this.walletRequest(method, params);
    if (NODE_METHODS.has(method)) return this.nodeRequest(method, params);
    throw new ProviderRpcError(UNSUPPORTED_METHOD, `Niomon does not support ${method}`);
  }

  async requestAccounts() {
    let got;
    try {
      got = await this.transport.request('eth_requestAccounts', [], { chainId: this.chainId });
    } catch (e) {
      throw rpcError(e);
    }
    if (!Array.isArray(got) || got.length === 0 || !got.every((a) => ADDRESS.test(a))) {
      throw new ProviderRpcError(DISCONNECTED, 'the wallet answered no account');
    }
    this.setAccounts(got);
    return [...this.accounts];
  }

  setAccounts(got) {
    const first = this.accounts.length === 0;
    const changed = got.join() !== this.accounts.join();
    this.accounts = [...got];
    this.keep();
    if (first && got.length) this.emit('connect', { chainId: this.chainId });
    if (changed) this.emit('accountsChanged', [...this.accounts]);
  }

  keep() {
    if (!this.storage) return;
    if (this.accounts.length) this.storage.setItem(this.storageKey, JSON.stringify(this.accounts));
    else this.storage.removeItem(this.storageKey);
  }

  // finishRedirect takes the answer the wallet sent back after the page
  // went to it (popups blocked): { method, params, result } or { method,
  // params, error }, or null. Call it when the page loads. An answer to
  // eth_requestAccounts connects the provider, as a popup's would.
  finishRedirect() {
    const back = this.transport.finishRedirect ? this.transport.finishRedirect() : null;
    if (!back || back.error) return back;
    if (back.method === 'eth_requestAccounts') {
      if (!Array.isArray(back.result) || back.result.length === 0 || !back.result.every((a) => ADDRESS.test(a))) {
        return { ...back, result: undefined, error: new ProviderRpcError(DISCONNECTED, 'the wallet answered no account') };
      }
      this.setAccounts(back.result);
    }
    return back;
  }

  requireAccount(address) {
    if (this.accounts.length === 0) throw new ProviderRpcError(UNAUTHORIZED, 'connect first: call eth_requestAccounts');
    if (address === undefined) return;
    if (typeof address !== 'string' || !this.accounts.some((a) => a.toLowerCase() === address.toLowerCase())) {
      throw new ProviderRpcError(UNAUTHORIZED, `${String(address)} is not an account this site may use`);
    }
  }

  async walletRequest(method, params) {
    const at = WALLET_METHODS[method];
    if (at >= 0) {
      if (params.length < 2) throw new ProviderRpcError(INVALID_PARAMS, `${method} takes two params`);
      this.requireAccount(params[at]);
    } else {
      const tx = params[0];
      if (!tx || typeof tx !== 'object') throw new ProviderRpcError(INVALID_PARAMS, `${method} takes a transaction object`);
      this.requireAccount(tx.from);
    }
    try {
      return await this.transport.request(method, params, { chainId: this.chainId });
    } catch (e) {
      throw rpcError(e);
    }
  }

  async switchChain(arg) {
    const id = normalizeChainId(arg && arg.chainId);
    if (!this.chains.has(id)) throw new ProviderRpcError(UNRECOGNIZED_CHAIN, `chain ${id} is not known: add it with wallet_addEthereumChain`);
    if (id !== this.chainId) {
      this.chainId = id;
      this.emit('chainChanged', id);
    }
    return null;
  }

  async addChain(arg) {
    if (!arg || typeof arg !== 'object') throw new ProviderRpcError(INVALID_PARAMS, 'wallet_addEthereumChain takes a chain object');
    const id = normalizeChainId(arg.chainId);
    const rpcUrls = Array.isArray(arg.rpcUrls) ? arg.rpcUrls.filter((u) => typeof u === 'string' && /^https:\/\//.test(u)) : [];
    if (rpcUrls.length === 0) throw new ProviderRpcError(INVALID_PARAMS, 'wallet_addEthereumChain needs an https:// RPC URL');
    if (typeof arg.chainName !== 'string' || !arg.chainName) throw new ProviderRpcError(INVALID_PARAMS, 'wallet_addEthereumChain needs a chainName');
    const nc = arg.nativeCurrency;
    if (!nc || typeof nc.symbol !== 'string' || nc.decimals !== 18) throw new ProviderRpcError(INVALID_PARAMS, 'nativeCurrency needs a symbol and 18 decimals');
    if (!this.chains.has(id)) this.chains.set(id, { chainName: arg.chainName, rpcUrls, nativeCurrency: { name: nc.name || nc.symbol, symbol: nc.symbol, decimals: 18 } });
    return null;
  }

  rpcURL() {
    const c = this.chains.get(this.chainId);
    const url = c && c.rpcUrls && c.rpcUrls[0];
    if (!url) throw new ProviderRpcError(UNSUPPORTED_METHOD, `no RPC URL is configured for chain ${this.chainId}`);
    return url;
  }

  async nodeRequest(method, params) {
    const url = this.rpcURL();
    let res;
    try {
      res = await this.fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: ++this.rpcID, method, params }),
      });
    } catch (e) {
      throw new ProviderRpcError(CHAIN_DISCONNECTED, `the chain's RPC cannot be reached: ${e.message}`);
    }
    let body;
    try {
      body = await res.json();
    } catch {
      throw new ProviderRpcError(CHAIN_DISCONNECTED, `the chain's RPC answered ${res.status} with something that is not JSON`);
    }
    if (body.error) throw rpcError(body.error);
    return body.result;
  }

  // eth_sendTransaction: the wallet signs (the user approves), the
  // dApp's node sends.
  // What the dApp leaves out (nonce, gas, fees) the node fills in before
  // the user is asked, so the wallet shows what will be sent.
  async sendTransaction(tx) {
    if (!tx || typeof tx !== 'object') throw new ProviderRpcError(INVALID_PARAMS, 'eth_sendTransaction takes a transaction object');
    this.rpcURL(); // before the user is asked
    this.requireAccount(tx.from);
    const from = tx.from || this.accounts[0];
    const full = { ...tx, from, chainId: tx.chainId || this.chainId };
    if (full.nonce === undefined) full.nonce = await this.nodeRequest('eth_getTransactionCount', [from, 'pending']);
    if (full.gas === undefined && full.gasLimit === undefined) {
      const call = { from };
      for (const k of ['to', 'value', 'data', 'input']) if (full[k] !== undefined) call[k] = full[k];
      full.gas = await this.nodeRequest('eth_estimateGas', [call]);
    }
    if (full.gasPrice === undefined && full.maxFeePerGas === undefined) {
      const block = await this.nodeRequest('eth_getBlockByNumber', ['latest', false]);
      if (block && typeof block.baseFeePerGas === 'string') {
        const tip = full.maxPriorityFeePerGas ?? await this.nodeRequest('eth_maxPriorityFeePerGas', []);
        full.maxPriorityFeePerGas = tip;
        full.maxFeePerGas = `0x${(2n * BigInt(block.baseFeePerGas) + BigInt(tip)).toString(16)}`;
      } else {
        full.gasPrice = await this.nodeRequest('eth_gasPrice', []);
      }
    }
    const signed = await this.walletRequest('eth_signTransaction', [full]);
    const raw = typeof signed === 'string' ? signed : signed && signed.raw;
    if (typeof raw !== 'string' || !/^0x[0-9a-f]+$/i.test(raw)) throw new ProviderRpcError(INVALID_PARAMS, 'the wallet answered no signed transaction');
    return this.nodeRequest('eth_sendRawTransaction', [raw]);
  }

  // disconnect forgets the accounts (the dApp's "sign out").
  disconnect() {
    if (this.accounts.length === 0) return;
    this.accounts = [];
    this.keep();
    this.emit('accountsChanged', []);
    this.emit('disconnect', new ProviderRpcError(DISCONNECTED, 'disconnected'));
  }
}
