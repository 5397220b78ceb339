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
import { readTx, call, units, CHAINS } from './ethtx.js';
import { summary, readTypedData } from './typed.js';
import * as solana from './solana.js';

const rejected = { code: 4001, message: 'User rejected the request.' };

// The two ways a request arrives and its answer leaves: from the window
// that opened this one, answered with postMessage to the origin it came
// from; or, where the site's popup was blocked, in this page's URL
// (#niomon-request=…), answered by going back to the site's return URL
// with #niomon-response=…. The return URL's origin is the one judged, and
// the URL must be one the app registered as a redirect URI, exactly: the
// answer goes only to the page the app named, so an open redirect
// elsewhere on its site cannot pass it on.
function popupChannel(origin) {
  return {
    reply: (id, payload) => window.opener.postMessage({ niomon: 1, type: 'response', id, ...payload }, origin),
    close: () => window.close(),
  };
}

function redirectChannel(back) {
  return {
    redirect: true,
    reply: (id, payload) => location.replace(`${back}#niomon-response=${b64url(JSON.stringify({ niomon: 1, type: 'response', id, ...payload }))}`),
    close: () => location.assign('/'),
  };
}

function b64url(text) {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function unb64url(s) {
  return new TextDecoder().decode(Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0)));
}

// redirectRequest reads a request from the URL: { m, back } or null.
function redirectRequest() {
  const raw = new URLSearchParams(location.hash.slice(1)).get('niomon-request');
  if (!raw) return null;
  let m;
  let back;
  try {
    m = JSON.parse(unb64url(raw));
    back = new URL(m.return);
  } catch {
    return { error: 'The request in the address is unreadable.' };
  }
  if (!m || m.niomon !== 1 || m.type !== 'request' || typeof m.id !== 'string' || typeof m.method !== 'string' || !Array.isArray(m.params) ||
    (back.protocol !== 'https:' && back.protocol !== 'http:') || back.username || back.password) {
    return { error: 'The request in the address is not one Niomon answers.' };
  }
  back.hash = '';
  return { m, back: back.href, origin: back.origin };
}

// dappScreen serves the request of the window that opened this one, or
// the one in the address.
export function dappScreen(cfg, user) {
  if (!window.opener) {
    const r = redirectRequest();
    if (r && r.error) {
      show(h('h1', { id: 'dapp-refused' }, 'Nothing to approve'), h('p', { class: 'error', id: 'dapp-reason' }, r.error));
      return;
    }
    if (r) {
      history.replaceState(null, '', location.pathname);
      serveLinked(cfg, user, r).catch((e) => status(e.message, 'error'));
      return;
    }
    show(h('h1', {}, 'Nothing to approve'), h('p', {}, 'This window opens when a site asks Niomon for something.'));
    return;
  }
  let served = false;
  window.addEventListener('message', (ev) => {
    const m = ev.data;
    if (ev.source !== window.opener || served || !m || m.niomon !== 1 || m.type !== 'request') return;
    served = true;
    serve(cfg, user, ev.origin, m, popupChannel(ev.origin)).catch((e) => status(e.message, 'error'));
  });
  show(h('h1', {}, 'Waiting for the site…'));
  window.opener.postMessage({ niomon: 1, type: 'ready' }, '*'); // says nothing but "ready"
}

// serveLinked serves a request that came in a link, if it answers at a
// URL the app registered; otherwise it answers nothing and stays here.
async function serveLinked(cfg, user, r) {
  const site = await api.call('GET', `/v1/apps/lookup?origin=${encodeURIComponent(r.origin)}&return=${encodeURIComponent(r.back)}`);
  if (!site.return_registered) {
    const whose = site.app ? `${site.app.name} has not registered that address` : `${r.origin} is not a registered app`;
    show(h('h1', { id: 'dapp-refused' }, 'Not answered'),
      h('p', { class: 'error', role: 'alert', id: 'dapp-reason' }, `This request came in a link that would send your answer to ${r.back.slice(0, 200)}. ${whose}, so Niomon does not answer. Allow popups for the site and ask again from there.`),
      h('button', { type: 'button', id: 'dapp-close', onclick: () => location.assign('/') }, 'Go to your wallet'));
    return;
  }
  await serve(cfg, user, r.origin, r.m, redirectChannel(r.back), site);
}

async function serve(cfg, user, origin, m, ch, checked) {
  const site = checked || await api.call('GET', `/v1/apps/lookup?origin=${encodeURIComponent(origin)}`);
  const refuse = (title, text, code) => {
    const error = { code, message: `${title}: ${text}` };
    // A popup's site hears it now; after a redirect the user reads why
    // first, and goes back to the site only if it is not blocked.
    if (!ch.redirect) ch.reply(m.id, { error });
    const leave = ch.redirect && site.verdict !== 'block'
      ? h('button', { type: 'button', id: 'dapp-close', onclick: () => ch.reply(m.id, { error }) }, 'Back to the site')
      : h('button', { type: 'button', id: 'dapp-close', onclick: () => ch.close() }, ch.redirect ? 'Go to your wallet' : 'Close');
    show(h('h1', { id: 'dapp-refused' }, title), h('p', { class: 'error', role: 'alert', id: 'dapp-reason' }, text),
      site.appeal ? h('p', { class: 'muted' }, site.appeal) : null, leave);
  };
  if (site.verdict === 'block') {
    refuse('Blocked', `Niomon will not serve ${origin}: ${site.explanation}.`, 4001);
    return;
  }
  if (!site.app) {
    const warning = site.verdict === 'warn' ? ` Be careful: ${site.explanation}.` : '';
    refuse('Not a registered app', `${origin} is not the origin of an app registered with Niomon, so your wallet does not answer it.${warning}`, 4100);
    return;
  }
  const who = [
    h('p', { class: 'who', id: 'dapp-app' },
      // The icon comes from this server, which fetched and checked it.
      site.app.icon_url ? h('img', { class: 'app-icon', id: 'dapp-icon', src: `/v1/apps/${encodeURIComponent(site.app.id)}/icon`, alt: '', width: 40, height: 40, onerror: (e) => e.target.remove() }) : null,
      h('strong', {}, site.app.name), ` at ${origin}`,
      site.app.status === 'verified' ? h('span', { class: 'tag ok' }, 'verified') : h('span', { class: 'tag' }, `${site.app.status}: only its developer can use it`)),
    site.verdict === 'warn' ? h('p', { class: 'notice', role: 'alert', id: 'dapp-warning' }, `Be careful: ${site.explanation}.`) : null,
    // Anyone can write a link; only the app's own page gets the answer.
    ch.redirect ? h('p', { class: 'notice', id: 'dapp-linked' }, `This request came in a link, not from a window the site opened. Approve it only if you just asked for it on ${origin}. The answer goes to ${site.app.name}'s page, nowhere else.`) : null,
  ];
  const ask = (title, details, run) => {
    const yes = h('button', { type: 'button', class: 'primary', id: 'dapp-approve' }, 'Approve');
    const no = h('button', { type: 'button', id: 'dapp-reject' }, 'Reject');
    const box = h('div', { class: 'card' }, yes, no);
    no.addEventListener('click', () => {
      show(h('h1', {}, 'Rejected'), h('p', {}, 'The site was told you said no.'));
      ch.reply(m.id, { error: rejected });
      if (!ch.redirect) ch.close();
    });
    yes.addEventListener('click', () => busy(box, async () => {
      let result;
      try {
        result = await run();
      } catch (e) {
        // The site hears that it failed, and the user reads why (a
        // forged answer from the server is refused here, not passed on).
        const why = e.message || String(e);
        const error = { code: -32603, message: `The wallet could not answer: ${why}` };
        if (!ch.redirect) ch.reply(m.id, { error });
        show(h('h1', { id: 'dapp-failed' }, 'Not signed'), h('p', { class: 'error', role: 'alert', id: 'dapp-reason' }, why),
          h('button', { type: 'button', id: 'dapp-close', onclick: () => (ch.redirect ? ch.reply(m.id, { error }) : ch.close()) }, ch.redirect ? 'Back to the site' : 'Close'));
        return;
      }
      show(h('h1', { id: 'dapp-done' }, 'Done'), h('p', {}, ch.redirect ? 'Taking you back to the site…' : 'The site has your answer. You can close this window.'));
      ch.reply(m.id, { result });
      if (!ch.redirect) ch.close();
    }));
    show(h('h1', {}, title), ...who, ...details, box);
  };
  if (m.method.startsWith('solana_')) {
    await serveSolana(cfg, user, origin, m, ask, refuse);
    return;
  }
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
      let td;
      try {
        td = readTypedData(m.params[1]);
      } catch (e) {
        refuse('Unreadable request', `The typed data is unreadable: ${e.message}.`, -32602);
        return;
      }
      // What is shown (td.data) is parsed from what is signed (td.text).
      ask('Sign this data?', typedView(td.data), () => wallet.signForSite(cfg, user, origin, m.method, [m.params[0], td.text]));
      return;
    }
    case 'eth_signTransaction': {
      let tx;
      try {
        if (m.params[0] && m.params[0].from !== undefined && String(m.params[0].from).toLowerCase() !== account) {
          throw new Error(`it is from ${String(m.params[0].from).slice(0, 42)}, not your account`);
        }
        tx = readTx(m.params[0], m.chainId);
      } catch (e) {
        refuse('Unreadable transaction', `The site sent a transaction the wallet cannot sign: ${e.message}.`, -32602);
        return;
      }
      ask('Sign this transaction?', txView(tx), () => wallet.signForSite(cfg, user, origin, m.method, [tx]));
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
    if (/^[^\n]* wants you to sign in with your (Ethereum|Solana) account:\n/.test(text)) {
      out.push(h('p', { class: 'notice', id: 'dapp-siwe' }, `This signs you in to ${text.split(' ')[0]}. Niomon signs it only for that site.`));
    }
    out.push(h('pre', { class: 'message', id: 'dapp-message' }, text));
  } else {
    out.push(h('p', {}, 'The message is not text. Its bytes:'), h('pre', { class: 'message', id: 'dapp-message' }, '0x' + toHex(bytes)));
  }
  return out;
}

// typedView shows EIP-712 data as a tree, with a summary of known shapes
// (see typed.js) and an unlimited token approval called out. Data that
// names a known type without its fields gets no summary: its tree opens.
function typedView(data) {
  const out = [];
  const primary = data && data.primaryType;
  const msg = (data && data.message) || {};
  const domain = (data && data.domain) || {};
  const sum = summary(data);
  if (sum.shape) {
    out.push(h('p', { id: 'dapp-shape' }, `This is ${sum.shape}.`));
    out.push(h('dl', { class: 'fields', id: 'dapp-summary' }, sum.rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v ?? '?'))])));
  } else if (/permit|order/i.test(String(primary))) {
    out.push(h('p', { class: 'notice', role: 'alert', id: 'dapp-shape' }, `It calls itself ${String(primary).slice(0, 60)}, but its fields are not those of a shape the wallet knows. Read every field below.`));
  }
  if (sum.unlimited) {
    out.push(h('p', { class: 'alert', role: 'alert', id: 'dapp-unlimited' }, 'Unlimited approval: the spender may take all of this token, now and later.'));
  }
  const tree = (v) => (v !== null && typeof v === 'object'
    ? h('ul', { class: 'tree' }, Object.entries(v).map(([k, x]) => h('li', {}, h('strong', {}, k), ': ', typeof x === 'object' && x !== null ? tree(x) : String(x))))
    : String(v));
  out.push(h('details', { open: !sum.shape }, h('summary', {}, sum.shape ? 'Everything it signs' : 'What it signs'),
    h('h2', {}, 'Domain'), tree(domain), h('h2', {}, primary || 'Message'), h('div', { id: 'dapp-typed' }, tree(msg))));
  return out;
}

// txView shows a transaction: the chain, the recipient, the value in the
// chain's unit, the function called when its selector is known (and an
// unlimited approval called out), the data otherwise, and the most it
// can cost in fees.
function txView(t) {
  const [chainName, unit] = CHAINS[Number(t.chainId)] || [`chain ${t.chainId}`, 'of the native coin'];
  const rows = [
    ['Network', chainName],
    ['To', t.to ? h('code', {}, t.to) : 'nobody: this creates a contract'],
    ['Sends', `${units(t.value)} ${unit}`],
  ];
  const out = [];
  const fn = call(t.data);
  if (fn) {
    rows.push(['Calls', h('code', { id: 'dapp-function' }, `${fn.name}(${fn.args.map(([n, type]) => `${type} ${n}`).join(', ')})`)]);
    const shown = (type, v) => {
      if (type === 'uint48') return BigInt(v) < 253402300800n ? `${new Date(Number(v) * 1000).toISOString().replace('.000Z', ' UTC').replace('T', ' ')} (${v})` : `${v} (never, in effect)`;
      return type.startsWith('uint') ? `${v} (in the token's smallest unit)` : h('code', {}, v);
    };
    for (const [n, type, v] of fn.args) rows.push([` ${n}`, shown(type, v)]);
    if (fn.unlimited) {
      out.push(h('p', { class: 'alert', role: 'alert', id: 'dapp-unlimited' }, fn.name === 'setApprovalForAll'
        ? 'Approval for all: the operator may move every token of this collection you own, now and later.'
        : 'Unlimited approval: the spender may take all of this token, now and later.'));
    }
    if (fn.approval && !fn.unlimited) {
      out.push(h('p', { class: 'notice', role: 'alert', id: 'dapp-approval' }, 'This is an approval: the spender may move up to the amount shown from your account, now and later, without asking again.'));
    }
    if (fn.warnings.length) {
      out.push(h('div', { class: 'alert', role: 'alert', id: 'dapp-malformed' }, h('p', {}, 'The data is not what a wallet sends:'),
        h('ul', {}, fn.warnings.map((w) => h('li', {}, w)))));
    }
  }
  if (t.data.length && (!fn || fn.warnings.length)) {
    rows.push(['Data', h('pre', { class: 'message', id: 'dapp-data' }, '0x' + toHex(t.data.length > 1024 ? t.data.subarray(0, 1024) : t.data) + (t.data.length > 1024 ? `… (${t.data.length} bytes)` : ''))]);
  }
  const fee = t.gas * (t.type === 2 ? t.maxFeePerGas : t.gasPrice);
  rows.push(['Network fee', `at most ${units(fee)} ${unit}`], ['Nonce', String(t.nonce)]);
  if (!t.to) out.push(h('p', { class: 'notice', role: 'alert' }, 'This transaction deploys a new contract.'));
  out.push(h('dl', { class: 'fields', id: 'dapp-tx' }, rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])));
  return out;
}

const SOLANA_CHAINS = { 'solana:mainnet': 'Solana', 'solana:devnet': 'Solana Devnet', 'solana:testnet': 'Solana Testnet' };

// serveSolana answers the SDK's Solana wallet-standard entry: connect,
// signMessage and signTransaction (the wire form, signed in place).
async function serveSolana(cfg, user, origin, m, ask, refuse) {
  const account = await wallet.solanaAccount(cfg, user);
  const bytes = (v) => (v instanceof Uint8Array ? v : null);
  switch (m.method) {
    case 'solana_connect':
      ask('Connect to this site?', [h('p', {}, 'It will see your Solana address ', h('code', {}, account.address), '. It cannot sign anything unless you approve each request.')],
        async () => ({ address: account.address, publicKey: account.publicKey }));
      return;
    case 'solana_signMessage': {
      const msg = bytes(m.params[0]);
      if (!msg || msg.length === 0 || msg.length > 4096) {
        refuse('Unreadable request', 'The message must be 1 to 4096 bytes.', -32602);
        return;
      }
      if (solana.isTransactionMessage(msg)) {
        refuse('Refused', 'The site asked you to sign a Solana transaction as if it were a message. Niomon does not, since the signature would make the transaction valid.', 4001);
        return;
      }
      ask('Sign this message?', messageView(msg), async () => ({ signature: await wallet.signSolanaForSite(cfg, user, origin, msg) }));
      return;
    }
    case 'solana_signTransaction': {
      const wire = bytes(m.params[0]);
      let tx;
      let at = -1;
      try {
        tx = solana.readTx(wire);
        at = solana.signerIndex(tx, account.address);
        if (at < 0) throw new Error('your account is not one of its signers');
      } catch (e) {
        refuse('Unreadable transaction', `The site sent a transaction the wallet cannot sign: ${e.message}.`, -32602);
        return;
      }
      ask('Sign this transaction?', solanaView(tx, account.address, m.params[1]), async () => {
        const sig = await wallet.signSolanaForSite(cfg, user, origin, tx.message);
        return { signedTransaction: solana.withSignature(wire, at, sig) };
      });
      return;
    }
    default:
      refuse('Not supported', `Niomon does not answer ${m.method} for sites.`, 4200);
  }
}

// solanaView shows a Solana transaction: the network, who pays the fee,
// each instruction in words when its program is known, and warnings.
function solanaView(tx, me, chain) {
  const out = [];
  const you = (k) => (k === me ? `${k} (you)` : k);
  const described = tx.instructions.map((ins) => solana.describe(ins));
  if (described.some((d) => d.unlimited)) {
    out.push(h('p', { class: 'alert', role: 'alert', id: 'dapp-unlimited' }, 'This hands over control: another account or program may take all of your tokens or SOL in it, now and later.'));
  }
  if (!described.some((d) => d.unlimited) && described.some((d) => d.approval)) {
    out.push(h('p', { class: 'notice', role: 'alert', id: 'dapp-approval' }, 'This is an approval: another account may move up to the amount shown of your tokens, now and later, without asking again.'));
  }
  const warnings = described.filter((d) => d.warning).map((d) => d.warning);
  if (warnings.length) {
    out.push(h('div', { class: 'alert', role: 'alert', id: 'dapp-malformed' }, h('p', {}, 'The transaction is not what a wallet sends:'), h('ul', {}, warnings.map((w) => h('li', {}, w)))));
  }
  const rows = [
    ['Network, as the site names it', SOLANA_CHAINS[chain] || (typeof chain === 'string' ? chain.slice(0, 40) : 'not named')],
    ['Fee payer', h('code', {}, you(tx.keys[0]))],
    ['Signers', String(tx.header.required)],
  ];
  if (tx.lookups) rows.push(['Lookup tables', `${tx.lookups}: some accounts come from them and are not shown`]);
  out.push(h('dl', { class: 'fields', id: 'dapp-tx' }, rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])));
  out.push(h('h2', {}, 'What it does'), h('ol', { class: 'tree', id: 'dapp-instructions' }, described.map((d) => h('li', {}, d.text.split(me).join(`${me} (you)`)))));
  return out;
}
