import { test } from 'node:test';
import assert from 'node:assert/strict';

import { popupTransport, ProviderRpcError } from '../src/index.js';

const WALLET = 'https://wallet.example.com';

// A dApp window and the popups it opens, as far as the transport uses
// them: open, message events, postMessage, closed.
function browser({ blockPopups = false } = {}) {
  const win = new EventTarget();
  win.crypto = globalThis.crypto;
  win.popups = [];
  win.open = (url) => {
    if (blockPopups) return null;
    const popup = { url, closed: false, sent: [], postMessage(m, origin) { this.sent.push({ m, origin }); }, close() { this.closed = true; } };
    win.popups.push(popup);
    return popup;
  };
  // deliver makes a message event as the browser would.
  win.deliver = (data, origin, source) => {
    const ev = new Event('message');
    Object.assign(ev, { data, origin, source });
    win.dispatchEvent(ev);
  };
  // A page's address, history and session storage, for the redirect.
  win.location = {
    href: 'https://dapp.example/swap?x=1', origin: 'https://dapp.example', pathname: '/swap', search: '?x=1', hash: '',
    assign(url) { win.went = url; },
  };
  win.history = { replaceState(_, __, url) { win.location.hash = ''; win.replaced = url; } };
  const store = new Map();
  win.sessionStorage = { getItem: (k) => (store.has(k) ? store.get(k) : null), setItem: (k, v) => store.set(k, String(v)), removeItem: (k) => store.delete(k) };
  return win;
}

const b64url = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const unb64url = (s) => JSON.parse(Buffer.from(s, 'base64url').toString());

const tick = () => new Promise((r) => setTimeout(r, 0));

test('a request goes to the wallet\'s window once it is ready, and its answer comes back', async () => {
  const win = browser();
  const t = popupTransport({ walletURL: `${WALLET}/anything`, win, pollMs: 5 });
  const answer = t.request('personal_sign', ['0x68', '0xabc'], { chainId: '0x1' });
  const popup = win.popups[0];
  assert.equal(popup.url, `${WALLET}/dapp`);
  win.deliver({ niomon: 1, type: 'ready' }, WALLET, popup);
  assert.equal(popup.sent.length, 1);
  const { m, origin } = popup.sent[0];
  assert.equal(origin, WALLET);
  assert.deepEqual([m.type, m.method, m.params, m.chainId], ['request', 'personal_sign', ['0x68', '0xabc'], '0x1']);
  win.deliver({ niomon: 1, type: 'response', id: m.id, result: '0xsig' }, WALLET, popup);
  assert.equal(await answer, '0xsig');
  assert.equal(popup.closed, false, 'the wallet closes its window itself (after a refusal it stays open to say why)');
});

test('messages from another origin, another window or for another request are ignored', async () => {
  const win = browser();
  const t = popupTransport({ walletURL: WALLET, win, pollMs: 5 });
  const answer = t.request('eth_requestAccounts', [], {});
  const popup = win.popups[0];
  win.deliver({ niomon: 1, type: 'ready' }, 'https://wallet.example.com.evil.io', popup);
  win.deliver({ niomon: 1, type: 'ready' }, WALLET, { postMessage() {} });
  assert.equal(popup.sent.length, 0, 'a ready from a look-alike origin or another window sent the request');
  win.deliver({ niomon: 1, type: 'ready' }, WALLET, popup);
  const id = popup.sent[0].m.id;
  win.deliver({ niomon: 1, type: 'response', id, result: ['0xevil'] }, 'https://evil.example', popup);
  win.deliver({ niomon: 1, type: 'response', id: 'other', result: ['0xevil'] }, WALLET, popup);
  win.deliver({ niomon: 1, type: 'response', id, error: { code: 4001, message: 'User rejected the request.' } }, WALLET, popup);
  await assert.rejects(answer, (e) => e instanceof ProviderRpcError && e.code === 4001 && /rejected/.test(e.message));
});

test('a closed window or a blocked popup is a rejection (4001)', async () => {
  const win = browser();
  const t = popupTransport({ walletURL: WALLET, win, pollMs: 5 });
  const answer = t.request('eth_requestAccounts', [], {});
  win.popups[0].closed = true;
  await assert.rejects(answer, (e) => e.code === 4001 && /closed/.test(e.message));
  const blocked = popupTransport({ walletURL: WALLET, win: browser({ blockPopups: true }), redirect: false });
  await assert.rejects(blocked.request('eth_requestAccounts', [], {}), (e) => e.code === 4001 && /popups/.test(e.message));
  await tick();
});

test('where popups are blocked, the page goes to the wallet and takes the answer it brings back', async () => {
  const win = browser({ blockPopups: true });
  const t = popupTransport({ walletURL: WALLET, win });
  let settled = false;
  t.request('personal_sign', ['0x68', '0xabc'], { chainId: '0x1' }).finally(() => { settled = true; });
  await tick();
  assert.equal(settled, false, 'the page is leaving: the request does not settle');
  const [base, frag] = win.went.split('#niomon-request=');
  assert.equal(base, `${WALLET}/dapp`);
  const req = unb64url(frag);
  assert.deepEqual([req.niomon, req.type, req.method, req.params, req.chainId, req.return], [1, 'request', 'personal_sign', ['0x68', '0xabc'], '0x1', 'https://dapp.example/swap'],
    'the wallet answers at the page\'s origin and path, which the app registers; the query stays in the session');
  assert.match(req.id, /^[0-9a-f]{32}$/);

  // The page loads again, with the wallet's answer in its address.
  const forged = { niomon: 1, type: 'response', id: 'f'.repeat(32), result: '0xforged' };
  win.location.hash = `#niomon-response=${b64url(forged)}`;
  assert.equal(t.finishRedirect(), null, 'an answer to a request this page did not send is ignored');
  win.sessionStorage.setItem('niomon:pending', JSON.stringify({ id: req.id, method: req.method, params: req.params, page: 'https://dapp.example/swap?x=1' }));
  win.location.hash = `#niomon-response=${b64url({ niomon: 1, type: 'response', id: req.id, result: '0xsig' })}`;
  const back = t.finishRedirect();
  assert.deepEqual(back, { method: 'personal_sign', params: ['0x68', '0xabc'], result: '0xsig' });
  assert.equal(win.replaced, 'https://dapp.example/swap?x=1', 'the answer leaves the address, and the page\'s query is back');
  assert.equal(t.finishRedirect(), null, 'and is taken once');
});

test('a redirect comes back to the returnURL the app registered, and restores only a page on this path', async () => {
  const win = browser({ blockPopups: true });
  const t = popupTransport({ walletURL: WALLET, win, returnURL: 'https://dapp.example/niomon-return' });
  t.request('personal_sign', ['0x68', '0xabc'], {});
  const req = unb64url(win.went.split('#niomon-request=')[1]);
  assert.equal(req.return, 'https://dapp.example/niomon-return');
  win.sessionStorage.setItem('niomon:pending', JSON.stringify({ id: req.id, method: req.method, params: req.params, page: 'https://evil.example/swap' }));
  win.location.hash = `#niomon-response=${b64url({ niomon: 1, type: 'response', id: req.id, result: '0xsig' })}`;
  assert.equal(t.finishRedirect().result, '0xsig');
  assert.equal(win.replaced, '/swap?x=1', 'a stored page elsewhere is not put in the address');
});

test('a redirect brings back refusals as errors, and requests with bytes need the popup', async () => {
  const win = browser({ blockPopups: true });
  const t = popupTransport({ walletURL: WALLET, win });
  t.request('eth_requestAccounts', [], {});
  const req = unb64url(win.went.split('#niomon-request=')[1]);
  win.location.hash = `#niomon-response=${b64url({ niomon: 1, type: 'response', id: req.id, error: { code: 4001, message: 'User rejected the request.' } })}`;
  const back = t.finishRedirect();
  assert.ok(back.error instanceof ProviderRpcError && back.error.code === 4001);
  await assert.rejects(t.request('solana_signMessage', [new Uint8Array(3)], {}), (e) => e.code === 4200 && /popups/.test(e.message));
});
