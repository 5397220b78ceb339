// EIP-1193 errors: a ProviderRpcError carries a numeric code a dApp
// switches on (EIP-1193 "Provider Errors", and 4902 for an unknown chain
// as wallets answer wallet_switchEthereumChain).

export const USER_REJECTED = 4001;
export const UNAUTHORIZED = 4100;
export const UNSUPPORTED_METHOD = 4200;
export const DISCONNECTED = 4900;
export const CHAIN_DISCONNECTED = 4901;
export const UNRECOGNIZED_CHAIN = 4902;
export const INVALID_PARAMS = -32602;
export const INTERNAL = -32603;

export class ProviderRpcError extends Error {
  constructor(code, message, data) {
    super(message);
    this.name = 'ProviderRpcError';
    this.code = code;
    if (data !== undefined) this.data = data;
  }
}

// rpcError turns what the wallet or a node answered ({code, message}) into
// a ProviderRpcError; anything else is an internal error.
export function rpcError(e) {
  if (e instanceof ProviderRpcError) return e;
  if (e && Number.isInteger(e.code) && typeof e.message === 'string') return new ProviderRpcError(e.code, e.message, e.data);
  return new ProviderRpcError(INTERNAL, (e && e.message) || String(e));
}
