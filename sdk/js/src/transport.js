// The popup transport: each request opens Niomon's wallet (Ditto) in a
// popup at WALLET/dapp and talks to it with postMessage. Both ends check
// who they talk to: here, a message counts only if it comes from the
// wallet's origin and from the popup this request opened; Ditto checks
// this page's origin against the app's registered origins.
//
// Protocol (version 1):
//   wallet → dApp  {niomon: 1, type: 'ready'}
//   dApp → wallet  {niomon: 1, type: 'request', id, method, params, chainId}
//   wallet → dApp  {niomon: 1, type: 'response', id, result} or {..., error: {code, message}}

import { ProviderRpcError, USER_REJECTED } from './errors.js';

const FEATURES = 'popup,width=420,height=680';

function newID(win) {
  const b = new Uint8Array(16);
  (win.crypto || globalThis.crypto).getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// popupTransport talks to the wallet at walletURL (its origin, e.g.
// https://wallet.example.com) from win (the dApp's window).
export function popupTransport({ walletURL, win = globalThis.window, timeoutMs = 10 * 60 * 1000, pollMs = 400 } = {}) {
  const walletOrigin = new URL(walletURL).origin;
  return {
    walletOrigin,
    request(method, params, context = {}) {
      return new Promise((resolve, reject) => {
        const id = newID(win);
        const popup = win.open(`${walletOrigin}/dapp`, `niomon-${id.slice(0, 12)}`, FEATURES); // a window per request: one closing must not take the next
        if (!popup) {
          reject(new ProviderRpcError(USER_REJECTED, 'the browser blocked the Niomon window: allow popups for this site and try again'));
          return;
        }
        let sent = false;
        // The wallet's window closes itself once the user answered; after
        // a refusal it stays open so the user can read why. It is closed
        // from here only when it never answered.
        const finish = (fn, v, close = false) => {
          win.removeEventListener('message', onMessage);
          clearInterval(poll);
          clearTimeout(timer);
          if (close) {
            try {
              popup.close();
            } catch { /* already closed */ }
          }
          fn(v);
        };
        const onMessage = (ev) => {
          if (ev.origin !== walletOrigin || ev.source !== popup) return; // not our wallet window
          const m = ev.data;
          if (!m || m.niomon !== 1) return;
          if (m.type === 'ready' && !sent) {
            sent = true;
            popup.postMessage({ niomon: 1, type: 'request', id, method, params, chainId: context.chainId }, walletOrigin);
          } else if (m.type === 'response' && m.id === id) {
            if (m.error) finish(reject, new ProviderRpcError(Number.isInteger(m.error.code) ? m.error.code : USER_REJECTED, String(m.error.message || 'refused')));
            else finish(resolve, m.result);
          }
        };
        win.addEventListener('message', onMessage);
        const poll = setInterval(() => {
          if (popup.closed) finish(reject, new ProviderRpcError(USER_REJECTED, 'the Niomon window was closed'));
        }, pollMs);
        const timer = setTimeout(() => finish(reject, new ProviderRpcError(USER_REJECTED, 'no answer from the Niomon window'), true), timeoutMs);
      });
    },
  };
}
