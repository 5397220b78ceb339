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
  return win;
}

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
  const blocked = popupTransport({ walletURL: WALLET, win: browser({ blockPopups: true }) });
  await assert.rejects(blocked.request('eth_requestAccounts', [], {}), (e) => e.code === 4001 && /popups/.test(e.message));
  await tick();
});
