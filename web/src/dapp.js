// The wallet's side of a dApp's request (the SDK's popup transport): this
// page, opened by the dApp at /dapp, says it is ready, takes one request
// from its opener, judges the opener's origin (GET /v1/apps/lookup: the
// registered app and the phishing verdict), shows the user who asks and
// what exactly, and answers. The answer goes only to the origin the
// request came from.

import * as api from './api.js';
import * as wallet from './wallet.js';
import { h, show, status, busy } from './ui.js';
import { toHex } from './bytes.js';

const rejected = { code: 4001, message: 'User rejected the request.' };
const MAX_UINT = (1n << 256n) - 1n;

function reply(origin, id, payload) {
  window.opener.postMessage({ niomon: 1, type: 'response', id, ...payload }, origin);
}

// dappScreen serves the request of the window that opened this one.
export function dappScreen(cfg, user) {
  if (!window.opener) {
    show(h('h1', {}, 'Nothing to approve'), h('p', {}, 'This window opens when a site asks Niomon for something.'));
    return;
  }
  let served = false;
  window.addEventListener('message', (ev) => {
    const m = ev.data;
    if (ev.source !== window.opener || served || !m || m.niomon !== 1 || m.type !== 'request') return;
    served = true;
    serve(cfg, user, ev.origin, m).catch((e) => status(e.message, 'error'));
  });
  show(h('h1', {}, 'Waiting for the site…'));
  window.opener.postMessage({ niomon: 1, type: 'ready' }, '*'); // says nothing but "ready"
}

async function serve(cfg, user, origin, m) {
  const site = await api.call('GET', `/v1/apps/lookup?origin=${encodeURIComponent(origin)}`);
  const refuse = (title, text, code) => {
    reply(origin, m.id, { error: { code, message: `${title}: ${text}` } });
    show(h('h1', { id: 'dapp-refused' }, title), h('p', { class: 'error', role: 'alert', id: 'dapp-reason' }, text),
      site.appeal ? h('p', { class: 'muted' }, site.appeal) : null,
      h('button', { type: 'button', id: 'dapp-close', onclick: () => window.close() }, 'Close'));
  };
  if (site.verdict === 'block') {
    refuse('Blocked', `Niomon will not serve ${origin}: ${site.explanation}.`, 4001);
    return;
  }
  if (!site.app) {
    refuse('Not a registered app', `${origin} is not the origin of an app registered with Niomon, so your wallet does not answer it.`, 4100);
    return;
  }
  const who = [
    h('p', { class: 'who', id: 'dapp-app' }, h('strong', {}, site.app.name), ` at ${origin}`,
      site.app.status === 'verified' ? h('span', { class: 'tag ok' }, 'verified') : h('span', { class: 'tag' }, `${site.app.status}: only its developer can use it`)),
    site.verdict === 'warn' ? h('p', { class: 'notice', role: 'alert', id: 'dapp-warning' }, `Be careful: ${site.explanation}.`) : null,
  ];
  const ask = (title, details, run) => {
    const yes = h('button', { type: 'button', class: 'primary', id: 'dapp-approve' }, 'Approve');
    const no = h('button', { type: 'button', id: 'dapp-reject' }, 'Reject');
    const box = h('div', { class: 'card' }, yes, no);
    no.addEventListener('click', () => {
      reply(origin, m.id, { error: rejected });
      show(h('h1', {}, 'Rejected'), h('p', {}, 'The site was told you said no.'));
      window.close();
    });
    yes.addEventListener('click', () => busy(box, async () => {
      const result = await run();
      reply(origin, m.id, { result });
      show(h('h1', { id: 'dapp-done' }, 'Done'), h('p', {}, 'The site has your answer. You can close this window.'));
      window.close();
    }));
    show(h('h1', {}, title), ...who, ...details, box);
  };
  const account = await wallet.ethAccount(cfg, user);
  switch (m.method) {
    case 'eth_requestAccounts':
      ask('Connect to this site?', [h('p', {}, 'It will see your Ethereum address ', h('code', {}, account), '. It cannot sign anything unless you approve each request.')],
        async () => [account]);
      return;
    case 'personal_sign':
      ask('Sign this message?', messageView(wallet.siteMessage(m.params[0])), () => wallet.signForSite(cfg, user, origin, m.method, m.params));
      return;
    case 'eth_signTypedData_v4': {
      let data;
      try {
        data = typeof m.params[1] === 'string' ? JSON.parse(m.params[1]) : m.params[1];
      } catch {
        refuse('Unreadable request', 'The typed data is not JSON.', -32602);
        return;
      }
      ask('Sign this data?', typedView(data), () => wallet.signForSite(cfg, user, origin, m.method, m.params));
      return;
    }
    default:
      refuse('Not supported', `Niomon does not answer ${m.method} for sites yet.`, 4200);
  }
}

// messageView shows a message as text when it is text, and as hex too.
function messageView(bytes) {
  let text = null;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    if (/[\u0000-\u0008\u000e-\u001f\u007f]/.test(text)) text = null;
  } catch {
    text = null;
  }
  const out = [];
  if (text !== null) {
    if (/ wants you to sign in with your Ethereum account:\n/.test(text)) {
      out.push(h('p', { class: 'notice', id: 'dapp-siwe' }, `This signs you in to ${text.split(' ')[0]}. Niomon signs it only for that site.`));
    }
    out.push(h('pre', { class: 'message', id: 'dapp-message' }, text));
  } else {
    out.push(h('p', {}, 'The message is not text. Its bytes:'), h('pre', { class: 'message', id: 'dapp-message' }, '0x' + toHex(bytes)));
  }
  return out;
}

// typedView shows EIP-712 data as a tree, naming known shapes and calling
// out an unlimited token approval.
function typedView(data) {
  const out = [];
  const primary = data && data.primaryType;
  const msg = (data && data.message) || {};
  const known = { Permit: 'an EIP-2612 permit: it lets the spender move your tokens without asking again', PermitSingle: 'a Permit2 approval', PermitBatch: 'a Permit2 approval', OrderComponents: 'a Seaport order' };
  if (known[primary]) out.push(h('p', { id: 'dapp-shape' }, `This is ${known[primary]}.`));
  const amount = msg.value ?? msg.amount ?? (msg.details && msg.details.amount);
  let unlimited = false;
  try {
    unlimited = amount !== undefined && BigInt(amount) >= MAX_UINT >> 96n; // 2^160 and more: no real balance
  } catch {
    unlimited = false;
  }
  if (unlimited) out.push(h('p', { class: 'error', role: 'alert', id: 'dapp-unlimited' }, 'Unlimited approval: the spender may take all of this token, now and later.'));
  const tree = (v) => (v !== null && typeof v === 'object'
    ? h('ul', { class: 'tree' }, Object.entries(v).map(([k, x]) => h('li', {}, h('strong', {}, k), ': ', typeof x === 'object' && x !== null ? tree(x) : String(x))))
    : String(v));
  out.push(h('h2', {}, 'Domain'), tree(data.domain || {}), h('h2', {}, primary || 'Message'), h('div', { id: 'dapp-typed' }, tree(msg)));
  return out;
}
