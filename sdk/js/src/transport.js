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
//
// The redirect carries the same messages, base64url-encoded JSON: the
// request in the wallet's URL (WALLET/dapp#niomon-request=…, with
// return: the URL to come back to, which must be one of the app's
// registered redirect URIs, exactly), the response in that page's
// (#niomon-response=…).

import { ProviderRpcError, USER_REJECTED, UNSUPPORTED_METHOD } from './errors.js';

const FEATURES = 'popup,width=420,height=680';

function newID(win) {
  const b = new Uint8Array(16);
  (win.crypto || globalThis.crypto).getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

const PENDING = 'niomon:pending';

function b64url(text) {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function unb64url(s) {
  return new TextDecoder().decode(Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0)));
}

// jsonable says params survive JSON (the redirect carries no bytes).
function jsonable(v) {
  if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) return true;
  if (Array.isArray(v)) return v.every(jsonable);
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) return Object.values(v).every(jsonable);
  return false;
}

// popupTransport talks to the wallet at walletURL (its origin, e.g.
// https://wallet.example.com) from win (the dApp's window). Where the
// browser blocks the popup, it sends the page to the wallet instead
// (redirect: false turns that off): the request goes in the wallet's URL,
// and the answer comes back at returnURL (by default this page's origin
// and path, without its query), where finishRedirect reads it. The
// wallet answers only at a returnURL the app registered as a redirect
// URI. Solana requests carry bytes and need the popup.
export function popupTransport({ walletURL, win = globalThis.window, timeoutMs = 10 * 60 * 1000, pollMs = 400, redirect = true, returnURL } = {}) {
  const walletOrigin = new URL(walletURL).origin;
  return {
    walletOrigin,
    // finishRedirect takes the wallet's answer to the request this page
    // went to the wallet with: { method, params, result } or { method,
    // params, error }, or null when the page holds none. An answer counts
    // only if it names the request this page's session sent (an id only
    // the wallet saw), so a link that carries a made-up answer is ignored.
    finishRedirect() {
      const raw = new URLSearchParams(win.location.hash.slice(1)).get('niomon-response');
      if (!raw) return null;
      win.history.replaceState(null, '', win.location.pathname + win.location.search);
      let pending = null;
      let m = null;
      try {
        pending = JSON.parse(win.sessionStorage.getItem(PENDING));
        m = JSON.parse(unb64url(raw));
      } catch {
        return null;
      }
      win.sessionStorage.removeItem(PENDING);
      // Back on the page the request left from, with its query.
      if (pending && typeof pending.page === 'string' && pending.page.startsWith(win.location.origin + win.location.pathname)) {
        win.history.replaceState(null, '', pending.page);
      }
      if (!pending || !m || m.niomon !== 1 || m.type !== 'response' || typeof m.id !== 'string' || m.id !== pending.id) return null;
      const out = { method: pending.method, params: pending.params };
      if (m.error) out.error = new ProviderRpcError(Number.isInteger(m.error.code) ? m.error.code : USER_REJECTED, String(m.error.message || 'refused'));
      else out.result = m.result;
      return out;
    },
    request(method, params, context = {}) {
      return new Promise((resolve, reject) => {
        const id = newID(win);
        const popup = win.open(`${walletOrigin}/dapp`, `niomon-${id.slice(0, 12)}`, FEATURES); // a window per request: one closing must not take the next
        if (!popup) {
          if (!redirect) {
            reject(new ProviderRpcError(USER_REJECTED, 'the browser blocked the Niomon window: allow popups for this site and try again'));
          } else if (!jsonable(params)) {
            reject(new ProviderRpcError(UNSUPPORTED_METHOD, `the browser blocked the Niomon window, and ${method} needs it: allow popups for this site and try again`));
          } else {
            // The page leaves for the wallet; this promise never settles.
            const back = returnURL || win.location.origin + win.location.pathname;
            win.sessionStorage.setItem(PENDING, JSON.stringify({ id, method, params, page: win.location.href.split('#')[0] }));
            win.location.assign(`${walletOrigin}/dapp#niomon-request=${b64url(JSON.stringify({ niomon: 1, type: 'request', id, method, params, chainId: context.chainId, return: back }))}`);
          }
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
