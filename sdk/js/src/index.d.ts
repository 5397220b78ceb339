// Types of @niomon/sdk.

export interface RequestArguments {
  readonly method: string;
  readonly params?: readonly unknown[];
}

export declare class ProviderRpcError extends Error {
  constructor(code: number, message: string, data?: unknown);
  code: number;
  data?: unknown;
}

export declare const USER_REJECTED: 4001;
export declare const UNAUTHORIZED: 4100;
export declare const UNSUPPORTED_METHOD: 4200;
export declare const DISCONNECTED: 4900;
export declare const CHAIN_DISCONNECTED: 4901;
export declare const UNRECOGNIZED_CHAIN: 4902;
export declare const INVALID_PARAMS: -32602;
export declare const INTERNAL: -32603;

export interface ChainConfig {
  chainName: string;
  rpcUrls: string[];
  nativeCurrency: { name: string; symbol: string; decimals: 18 };
}

export interface Transport {
  request(method: string, params: readonly unknown[], context: { chainId: string }): Promise<unknown>;
}

export type ProviderEvent = 'connect' | 'disconnect' | 'accountsChanged' | 'chainChanged' | 'message';

export declare class NiomonProvider {
  constructor(options: { transport: Transport; chains?: Record<string, ChainConfig>; chainId?: string | number; fetch?: typeof fetch; storage?: Storage });
  readonly isNiomon: true;
  chainId: string;
  accounts: string[];
  request(args: RequestArguments): Promise<unknown>;
  on(event: ProviderEvent, listener: (...args: any[]) => void): this;
  once(event: ProviderEvent, listener: (...args: any[]) => void): this;
  removeListener(event: ProviderEvent, listener: (...args: any[]) => void): this;
  off(event: ProviderEvent, listener: (...args: any[]) => void): this;
  disconnect(): void;
  finishRedirect(): RedirectAnswer | null;
}

export interface RedirectAnswer {
  method: string;
  params: unknown[];
  result?: unknown;
  error?: ProviderRpcError;
}

export declare function popupTransport(options: { walletURL: string; win?: Window; timeoutMs?: number; pollMs?: number; redirect?: boolean; returnURL?: string }): Transport & { walletOrigin: string; finishRedirect(): RedirectAnswer | null };

export interface EIP6963ProviderInfo {
  readonly uuid: string;
  readonly name: string;
  readonly icon: string;
  readonly rdns: string;
}

export declare const NIOMON_RDNS: string;
export declare const NIOMON_ICON: string;
export declare function announceProvider(provider: NiomonProvider, options?: { target?: EventTarget; uuid?: string; name?: string; icon?: string; rdns?: string }): () => void;

export declare function createProvider(options: { walletURL: string; chains?: Record<string, ChainConfig>; chainId?: string | number; announce?: boolean; redirect?: boolean; returnURL?: string; win?: Window }): NiomonProvider;

export type SolanaChain = 'solana:mainnet' | 'solana:devnet' | 'solana:testnet';
export declare const SOLANA_CHAINS: readonly SolanaChain[];

export interface SolanaAccount {
  readonly address: string;
  readonly publicKey: Uint8Array;
  readonly chains: readonly SolanaChain[];
  readonly features: readonly string[];
  readonly label?: string;
}

// A Solana wallet-standard Wallet.
export declare class NiomonSolanaWallet {
  constructor(options: { transport: Transport; name?: string; icon?: string });
  readonly version: '1.0.0';
  readonly name: string;
  readonly icon: string;
  readonly chains: readonly SolanaChain[];
  readonly accounts: readonly SolanaAccount[];
  readonly features: {
    'standard:connect': { version: '1.0.0'; connect(input?: { silent?: boolean }): Promise<{ accounts: readonly SolanaAccount[] }> };
    'standard:disconnect': { version: '1.0.0'; disconnect(): Promise<void> };
    'standard:events': { version: '1.0.0'; on(event: 'change', listener: (properties: { accounts: readonly SolanaAccount[] }) => void): () => void };
    'solana:signMessage': { version: '1.0.0'; signMessage(...inputs: { account: SolanaAccount; message: Uint8Array }[]): Promise<{ signedMessage: Uint8Array; signature: Uint8Array }[]> };
    'solana:signTransaction': {
      version: '1.0.0';
      supportedTransactionVersions: readonly ('legacy' | 0)[];
      signTransaction(...inputs: { account: SolanaAccount; transaction: Uint8Array; chain?: SolanaChain }[]): Promise<{ signedTransaction: Uint8Array }[]>;
    };
  };
}

export declare function registerWallet(wallet: NiomonSolanaWallet, options?: { target?: EventTarget }): void;
export declare function createSolanaWallet(options: { walletURL: string; register?: boolean; win?: Window }): NiomonSolanaWallet;

export declare class LoginError extends Error {
  code: string;
}

export interface LoginResult {
  claims: Record<string, unknown> & { sub: string; email?: string; wallet_addresses?: { chain: string; path: string; address: string }[] };
  idToken: string;
  accessToken: string;
  refreshToken?: string;
  expiresIn?: number;
}

export declare function startLogin(options: { issuer: string; clientId: string; redirectUri: string; scope?: string; prompt?: string; storage?: Storage; location?: Location; fetch?: typeof fetch }): Promise<string>;
export declare function finishLogin(options?: { url?: string; storage?: Storage; fetch?: typeof fetch; now?: () => number }): Promise<LoginResult>;
export declare function verifyIDToken(token: string, options: { jwks: { keys: JsonWebKey[] }; issuer: string; clientId: string; nonce: string; now?: number; skewSeconds?: number }): Promise<Record<string, unknown>>;
