// @niomon/sdk: Niomon for dApps.
//
//   import { createProvider, startLogin, finishLogin } from '@niomon/sdk';
//   const provider = createProvider({ walletURL: 'https://wallet.example.com', chains: { '0x1': { chainName: 'Ethereum', rpcUrls: ['https://…'], nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 } } } });
//   const [account] = await provider.request({ method: 'eth_requestAccounts' });
//
// createProvider also announces the provider through EIP-6963;
// createSolanaWallet registers Niomon's Solana wallet with the
// wallet-standard.

import { NiomonProvider } from './provider.js';
import { popupTransport } from './transport.js';
import { announceProvider } from './eip6963.js';
import { NiomonSolanaWallet, registerWallet } from './solana.js';

export { NiomonProvider } from './provider.js';
export { popupTransport } from './transport.js';
export { announceProvider, NIOMON_RDNS, NIOMON_ICON } from './eip6963.js';
export { NiomonSolanaWallet, registerWallet, SOLANA_CHAINS } from './solana.js';
export { startLogin, finishLogin, verifyIDToken, LoginError } from './login.js';
export * from './errors.js';

// createProvider makes a provider that asks the wallet at walletURL
// through a popup, and announces it (announce: false to skip). Where
// popups are blocked, the page goes to the wallet and comes back to
// returnURL (by default its own origin and path), which the app must have
// registered as a redirect URI; call provider.finishRedirect() when the
// page loads. redirect: false refuses instead (4001, asking for popups).
export function createProvider({ walletURL, chains, chainId, announce = true, redirect = true, returnURL, win = globalThis.window } = {}) {
  const provider = new NiomonProvider({ transport: popupTransport({ walletURL, win, redirect, returnURL }), chains, chainId, storage: win && win.sessionStorage });
  if (announce && win) announceProvider(provider, { target: win });
  return provider;
}

// createSolanaWallet makes the Solana wallet-standard wallet that asks the
// wallet at walletURL through a popup, and registers it with the page's
// wallet-standard apps (register: false to skip).
export function createSolanaWallet({ walletURL, register = true, win = globalThis.window } = {}) {
  const wallet = new NiomonSolanaWallet({ transport: popupTransport({ walletURL, win }) });
  if (register && win) registerWallet(wallet, { target: win });
  return wallet;
}
