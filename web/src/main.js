// Ditto, the web wallet: sign up and sign in, see verified addresses,
// sign. Every screen is built here; the server sends only data.

import * as api from './api.js';
import * as wallet from './wallet.js';
import { h, show, status, busy } from './ui.js';
import { showCode } from './pairing.js';
import { toBase64 } from './bytes.js';

const chainNames = {
  ethereum: 'Ethereum',
  bitcoin: 'Bitcoin (SegWit)',
  'bitcoin-taproot': 'Bitcoin (Taproot)',
  solana: 'Solana',
  cosmos: 'Cosmos Hub',
};

let cfg = null;

// "Login with Niomon": an app's sign-in sends the browser here with next,
// the login page to go back to once signed in (only such a path is
// followed), and reauth=1 when the app wants a fresh sign-in. next is
// kept for the tab, so a sign-in through another provider, which leaves
// the page, still comes back.
const nextKey = 'niomon.next';
const params = new URLSearchParams(location.search);
const reauth = params.get('reauth') === '1';
{
  const n = params.get('next');
  if (n && /^\/oidc\/login\?id=[A-Za-z0-9_%-]{1,64}$/.test(n)) sessionStorage.setItem(nextKey, n);
  if (params.has('next')) history.replaceState(null, '', '/');
}

// goNext leaves for the app's login page, if one waits; it reports
// whether it did.
function goNext() {
  const n = sessionStorage.getItem(nextKey);
  if (!n) return false;
  sessionStorage.removeItem(nextKey);
  show(h('h1', {}, 'Back to the app…'), h('p', {}, 'You are signed in. Taking you back to the app that asked.'));
  location.assign(n);
  return true;
}
// importing: the user chose to bring a recovery phrase; their sign-up
// then ends on the import screen instead of making a new wallet.
let importing = false;

async function start() {
  try {
    cfg = await wallet.trustedConfig();
  } catch (e) {
    showFatal(e);
    return;
  }
  let session = null;
  try {
    session = await api.call('GET', '/v1/session');
  } catch (e) {
    if (e.status !== 401) {
      showFatal(e);
      return;
    }
  }
  if (session && !reauth) {
    api.setCSRF(session.csrf_token);
    if (!(await wallet.sameAccount(session.user))) {
      accountSwitchScreen(session);
      return;
    }
    await signedIn(session);
  } else {
    signInScreen();
  }
}

// showFatal replaces the screen with an error. A check that failed
// (wallet.VerifyError) means the server showed something the enclave did
// not sign: the page shows no address and says so.
// stopOnLie turns a failed check during sign-in into the error screen:
// what the server said about the account cannot be trusted.
const stopOnLie = (fn) => async () => {
  try {
    await fn();
  } catch (e) {
    if (!(e instanceof wallet.VerifyError)) throw e;
    showFatal(e);
  }
};

function showFatal(e) {
  const verify = e instanceof wallet.VerifyError;
  show(
    h('h1', {}, verify ? 'Stopped: the server’s answer did not check out' : 'Something went wrong'),
    h('p', { class: 'error', role: 'alert', id: 'fatal' }, e.message || String(e)),
    verify ? h('p', {}, 'This page checks everything the server relays against the enclave’s signatures, and this did not match. Your keys are safe in the enclave; do not use what the server shows until the operator explains it.') : null,
    h('p', {}, h('a', { href: '/' }, 'Try again')),
  );
}

// accountSwitchScreen: the server says this browser is signed in to
// another account than the one it last used here, with no sign-in on
// this page to explain it (a magic link or an identity provider can).
// The user decides; the wallet is not shown until they do.
function accountSwitchScreen(session) {
  const user = session.user;
  show(
    h('h1', {}, 'Another account?'),
    h('p', { class: 'error', role: 'alert', id: 'fatal' },
      `This browser last used another account than the one the server now says you are signed in to (${user.email || user.id}). If you did not just sign in to that account, stop: the server may be showing you someone else's wallet.`),
    h('p', {},
      h('button', { type: 'button', class: 'primary', id: 'switch-no', onclick: signOut }, 'Sign out'), ' ',
      h('button', { type: 'button', id: 'switch-yes', onclick: async () => { await wallet.useAccount(user); await signedIn(session); } }, `I just signed in as ${user.email || 'that account'}`)),
  );
}

function signInScreen() {
  status('');
  const passkeys = h('div', { class: 'card' },
    h('button', { type: 'button', class: 'primary', id: 'passkey-signup' }, 'Create a wallet with a passkey'),
    h('button', { type: 'button', id: 'passkey-signin' }, 'Sign in with a passkey'),
  );
  passkeys.querySelector('#passkey-signup').addEventListener('click', () => busy(passkeys, async () => {
    const { session, key } = await wallet.signUpWithPasskey(cfg);
    api.setCSRF(session.csrf_token);
    await signedIn(session, key);
  }));
  passkeys.querySelector('#passkey-signin').addEventListener('click', () => busy(passkeys, stopOnLie(async () => {
    await signedIn(await wallet.signInWithPasskey(cfg));
  })));
  const email = h('input', { id: 'email', type: 'email', name: 'email', autocomplete: 'email', required: true, placeholder: 'you@example.com' });
  const form = h('form', { id: 'email-form', class: 'card' },
    h('label', { for: 'email' }, 'Email address'),
    email,
    h('button', { type: 'submit', class: 'primary' }, 'Email me a code'),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(form, async () => {
      const st = await api.call('POST', '/v1/auth/email/start', { email: email.value.trim() });
      codeScreen(email.value.trim(), st.flow_id);
    });
  });
  const providers = cfg.oidcProviders.map((p) =>
    h('a', { class: 'button', href: `/v1/auth/oidc/${encodeURIComponent(p)}/start` }, `Continue with ${p[0].toUpperCase()}${p.slice(1)}`));
  const forApp = sessionStorage.getItem(nextKey);
  show(
    h('h1', {}, 'Sign in to Niomon'),
    forApp ? h('p', { class: 'notice', id: 'for-app' }, reauth
      ? 'The app you came from asks you to sign in again before it continues.'
      : 'Sign in to continue to the app you came from.') : null,
    h('p', { class: 'lead' }, 'One wallet for every chain. Your keys stay in a secure enclave: not even the people who run this server can use them.'),
    passkeys,
    h('p', {}, h('button', { type: 'button', class: 'link', id: 'import-start', onclick: () => {
      importing = true;
      status('After you sign up, you will enter your recovery phrase instead of getting a new wallet.');
    } }, 'I have a recovery phrase to import')),
    h('h2', {}, 'Or use your email'),
    form,
    providers.length ? h('div', { class: 'card providers' }, h('p', {}, 'Or continue with'), ...providers) : null,
  );
}

function codeScreen(address, flowID) {
  const code = h('input', { id: 'code', name: 'code', autocomplete: 'one-time-code', inputmode: 'text', required: true, spellcheck: 'false', autocapitalize: 'characters' });
  const form = h('form', { id: 'code-form', class: 'card' },
    h('label', { for: 'code' }, 'Code from the email'),
    code,
    h('button', { type: 'submit', class: 'primary' }, 'Continue'),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(form, stopOnLie(async () => {
      const s = await api.call('POST', '/v1/auth/email/verify', { flow_id: flowID, code: code.value.trim() });
      api.setCSRF(s.csrf_token);
      // The account must be the address typed here, not one the server
      // chose (a look-alike, or none).
      if (wallet.normalizeEmail(s.user.email || '') !== wallet.normalizeEmail(address)) {
        throw new wallet.VerifyError(`You asked to sign in as ${address}, but the server signed you in as ${s.user.email || 'an account without that address'}. Do not use what it shows.`);
      }
      await wallet.useAccount(s.user);
      await signedIn(s);
    }));
  });
  show(
    h('h1', {}, 'Check your email'),
    h('p', {}, 'We sent a sign-in code to ', h('strong', {}, address), '. It works once and expires soon.'),
    form,
    h('button', { type: 'button', class: 'link', onclick: signInScreen }, 'Use another email address'),
  );
}

// signedIn goes on from a new session: a user without a wallet gets one
// now, with key (a passkey just made) or a new device key.
async function signedIn(session, key) {
  const user = session.user;
  if (!user.wallet_ready && importing) {
    importScreen(user, key);
    return;
  }
  if (!user.wallet_ready) {
    show(h('h1', {}, 'Creating your wallet…'), h('p', {}, key
      ? 'Confirm with your passkey once more: it approves the wallet the enclave is making for you.'
      : 'This browser is making a key that only it can use, and the enclave is making your wallet.'));
    try {
      await wallet.createWallet(cfg, user, key);
    } catch (e) {
      showFatal(e);
      return;
    }
  }
  if (goNext()) return;
  if (location.pathname === '/dapp') {
    (await import('./dapp.js')).dappScreen(cfg, user);
    return;
  }
  await home(user);
}

async function home(user) {
  let w;
  try {
    w = await wallet.load(cfg, user);
  } catch (e) {
    showFatal(e);
    return;
  }
  const rows = w.addresses.map((a) => {
    const copy = h('button', { type: 'button', class: 'copy', 'aria-label': `Copy ${chainNames[a.chain] || a.chain} address` }, 'Copy');
    copy.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(a.address);
        status(`${chainNames[a.chain] || a.chain} address copied.`);
      } catch {
        status('Copying is not allowed here; select the address instead.', 'error');
      }
    });
    const name = chainNames[a.chain] || a.chain;
    const qrBox = h('div', { class: 'qr-box', hidden: true });
    const qr = h('button', { type: 'button', class: 'qr-toggle', 'aria-expanded': 'false', 'aria-label': `Show the QR code of the ${name} address` }, 'QR');
    qr.addEventListener('click', async () => {
      const open = qrBox.hidden;
      if (open && !qrBox.firstChild) qrBox.append((await import('./qr.js')).qrSVG(a.address, `QR code of ${a.address}`));
      qrBox.hidden = !open;
      qr.setAttribute('aria-expanded', String(open));
    });
    return h('li', { class: 'account', 'data-chain': a.chain },
      h('div', { class: 'chain' }, name),
      h('code', { class: 'address' }, a.address),
      h('div', { class: 'actions' }, copy, qr),
      qrBox);
  });
  show(
    h('h1', {}, 'Your wallet'),
    h('p', { class: 'who' }, 'Signed in as ', h('strong', {}, user.email || user.id), ' · ',
      h('button', { type: 'button', class: 'link', id: 'security', onclick: () => securityScreen(user) }, 'Security'), ' · ',
      h('button', { type: 'button', class: 'link', id: 'developers', onclick: async () => (await import('./developer.js')).developerScreen(() => home(user)) }, 'Developers'), ' · ',
      h('button', { type: 'button', class: 'link', id: 'sign-out', onclick: signOut }, 'Sign out')),
    w.canSign ? null : h('div', { class: 'notice' },
      h('p', {}, 'This browser holds no key of your wallet, so it can show your addresses but not sign. A device that holds your wallet can approve this one.'),
      h('button', { type: 'button', class: 'primary', id: 'pair-start', onclick: () => pairingScreen(user) }, 'Use this browser for my wallet')),
    h('h2', {}, 'Accounts'),
    h('ul', { class: 'accounts' }, rows),
    w.canSign ? signSection(user) : null,
    w.canSign ? approveSection(user) : null,
    w.canSign ? h('section', { 'aria-labelledby': 'phrase-heading' },
      h('h2', { id: 'phrase-heading' }, 'Recovery phrase'),
      h('p', {}, 'Your wallet’s 24 words restore it in any wallet app, without Niomon.'),
      h('button', { type: 'button', id: 'export', onclick: () => exportScreen(user) }, 'Show my recovery phrase…')) : null,
  );
  // The key is renewed once the addresses are on screen, so a renewal
  // that fails never hides the wallet.
  if (w.canSign) {
    try {
      if (await wallet.rotateIfDue(cfg, user)) status('This browser renewed its key of your wallet before the old one expired.');
    } catch (e) {
      status(e.message, 'error');
    }
  }
}

// pairingScreen, on a browser without a key of the wallet, makes one,
// shows its code, and waits (polling, until the pairing expires) for a
// device of the wallet to approve it.
async function pairingScreen(user) {
  let pending;
  try {
    pending = (await wallet.pendingPairing(user)) || (await wallet.startPairing(cfg, user));
  } catch (e) {
    status(e.message, 'error');
    return;
  }
  const note = h('p', { id: 'pair-wait' }, 'Waiting for approval…');
  show(
    h('h1', {}, 'Approve this browser'),
    h('p', {}, 'On a device that holds your wallet, open Niomon, choose “Add a device” and enter this code:'),
    h('p', { class: 'code', id: 'pair-code' }, showCode(pending.code)),
    h('p', {}, 'Check that the other device shows the same code before it approves. The code is made from this browser’s new key, so nobody can slip in another.'),
    note,
    h('button', { type: 'button', class: 'link', onclick: () => home(user) }, 'Cancel'),
  );
  const main = document.getElementById('main');
  const screen = main.firstChild;
  while (Date.now() < pending.expiresAt && main.firstChild === screen) {
    await new Promise((r) => setTimeout(r, 1500));
    if (main.firstChild !== screen) return; // the user left
    try {
      if (await wallet.finishPairing(cfg, user, pending)) {
        await home(user);
        status('This browser now holds a key of your wallet.');
        return;
      }
    } catch (e) {
      showFatal(e);
      return;
    }
  }
  if (main.firstChild === screen) note.textContent = 'The code expired. Go back and start again.';
}

// describeAgent names a browser and its system from a User-Agent, as
// people call them ("Chrome on Linux"). It only helps the user recognise
// their device; the code is what they check.
function describeAgent(ua) {
  if (!ua) return 'An unnamed browser';
  const browser = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chrom(e|ium)\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : 'A browser';
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Mac OS X/.test(ua) ? 'macOS' : /Windows/.test(ua) ? 'Windows' : /Linux|X11/.test(ua) ? 'Linux' : 'an unknown system';
  return `${browser} on ${os}`;
}

// approveSection lets a device of the wallet approve a new one by the
// code it shows.
function approveSection(user) {
  const code = h('input', { id: 'pair-code-input', name: 'code', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'characters', required: true, placeholder: 'XXXXX-XXXXX' });
  const form = h('form', { id: 'pair-form', class: 'card' },
    h('label', { for: 'pair-code-input' }, 'Code shown on the new device'),
    code,
    h('button', { type: 'submit' }, 'Find the device'),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(form, async () => {
      const found = await wallet.lookupPairing(user, code.value);
      const yes = h('button', { type: 'button', class: 'primary', id: 'pair-approve' }, 'Approve this device');
      const box = h('div', { class: 'card' },
        h('p', {}, 'A browser asks to use your wallet:'),
        h('p', {}, h('strong', {}, describeAgent(found.userAgent)), h('br'), h('small', { class: 'muted' }, found.userAgent || '')),
        h('p', {}, 'Code ', h('strong', { class: 'code' }, showCode(found.code)), ' — it must be the code that browser shows.'),
        yes,
        h('button', { type: 'button', class: 'link', onclick: () => home(user) }, 'Do not approve'),
      );
      yes.addEventListener('click', () => busy(box, async () => {
        await wallet.approvePairing(cfg, user, found);
        await home(user);
        status('Approved. The new device finishes on its own.');
      }));
      show(h('h1', {}, 'Add a device'), box);
    });
  });
  return h('section', { 'aria-labelledby': 'devices-heading' },
    h('h2', { id: 'devices-heading' }, 'Add a device'),
    h('p', {}, 'Signed in on another browser? Choose “Use this browser for my wallet” there, and enter the code it shows.'),
    form);
}

const eventNames = {
  'signin.email': 'Signed in with an email code',
  'signin.email_link': 'Signed in with an email link',
  'signin.passkey': 'Signed in with a passkey',
  'signin.oidc': 'Signed in with an identity provider',
  'signin.api_key': 'Signed in with an API key',
  'signup.passkey': 'Signed up with a passkey',
  'signup.oidc': 'Signed up with an identity provider',
  'signup.api_key': 'Signed up with an API key',
  'wallet.created': 'Wallet created',
  'wallet.exported': 'Recovery phrase exported',
  'wallet.policy_changed': 'Wallet keys changed',
  'device.pairing_started': 'A new device asked to join',
  'device.pairing_approved': 'A new device was approved',
  'device.revoked': 'A key was removed',
  'session.revoked': 'A session was signed out',
  'passkey.added': 'Passkey added',
  'api_key.added': 'API key added',
  'oidc.linked': 'Identity provider linked',
};

const when = (t) => new Date(t).toLocaleString();

// securityScreen shows the wallet's keys (from the cluster's receipt),
// the account's sessions and its recent activity, and lets the user
// remove a key or sign a session out.
async function securityScreen(user) {
  let keys, sessions, activity, devices;
  try {
    [keys, sessions, activity, devices] = await Promise.all([
      wallet.walletKeys(cfg, user),
      api.call('GET', '/v1/sessions'),
      api.call('GET', '/v1/activity'),
      api.call('GET', '/v1/devices'),
    ]);
  } catch (e) {
    showFatal(e);
    return;
  }
  const noKey = keys === null;
  keys = keys || [];
  const canEdit = keys.some((k) => k.mine && k.rights.includes('policy'));
  // Names are the user's own, kept by the server: display only. Which
  // keys exist, and which is this browser's, comes from the receipt.
  const names = new Map(devices.filter((x) => x.name).map((x) => [x.id, x.name]));
  const keyRows = keys.map((k) => {
    const kind = k.kind === 'passkey' ? 'Passkey' : k.kind === 'session_key' ? 'Browser key' : 'API key';
    const shown = names.get(toBase64(k.id)) || k.label || kind;
    const rename = h('button', { type: 'button', class: 'link rename', 'aria-label': `Rename ${shown}` }, 'Rename');
    rename.addEventListener('click', () => {
      const input = h('input', { class: 'rename-input', value: shown, maxlength: 128, 'aria-label': 'New name' });
      const save = h('button', { type: 'submit' }, 'Save');
      const form = h('form', { class: 'rename-form' }, input, save);
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        busy(form, async () => {
          await api.call('POST', '/v1/devices/name', { id: toBase64(k.id), name: input.value });
          await securityScreen(user);
          status('Renamed.');
        });
      });
      rename.replaceWith(form);
      input.focus();
    });
    const remove = canEdit && !k.mine && keys.length > 1
      ? h('button', { type: 'button', class: 'remove', 'aria-label': `Remove ${k.label || kind}` }, 'Remove')
      : null;
    if (remove) {
      remove.addEventListener('click', () => busy(remove.parentElement, async () => {
        await wallet.removeKey(cfg, user, k);
        await securityScreen(user);
        status('Removed. That key can no longer use your wallet.');
      }));
    }
    return h('li', { class: 'row key' },
      h('div', {}, h('strong', { class: 'key-name' }, shown), k.mine ? h('span', { class: 'tag' }, 'this browser') : null, ' ', rename, h('br'),
        h('small', { class: 'muted' }, kind, k.expires_at ? ` · expires ${when(Number(k.expires_at) * 1000)}` : '')),
      remove);
  });
  const sessionRows = sessions.map((x) => {
    const out = x.current ? null : h('button', { type: 'button', class: 'remove' }, 'Sign out');
    if (out) {
      out.addEventListener('click', () => busy(out.parentElement, async () => {
        await api.call('POST', `/v1/sessions/${encodeURIComponent(x.id)}/revoke`, {});
        await securityScreen(user);
        status('Signed out.');
      }));
    }
    return h('li', { class: 'row session' },
      h('div', {}, h('strong', {}, describeAgent(x.user_agent)), x.current ? h('span', { class: 'tag' }, 'this session') : null, h('br'),
        h('small', { class: 'muted' }, `since ${when(x.created_at)} · last seen ${when(x.last_seen)}${x.ip ? ` · ${x.ip}` : ''}`)),
      out);
  });
  const activityRows = activity.map((e) => h('li', { class: 'row event' },
    h('div', {}, eventNames[e.event] || e.event, h('br'), h('small', { class: 'muted' }, `${when(e.at)}${e.ip ? ` · ${e.ip}` : ''}`))));
  show(
    h('h1', {}, 'Security'),
    h('button', { type: 'button', class: 'link', onclick: () => home(user) }, 'Back to my wallet'),
    h('h2', {}, 'Keys of your wallet'),
    h('p', { class: 'muted' }, 'As the enclave lists them in its signed receipt. Each can use your wallet.'),
    noKey ? h('p', { class: 'notice' }, 'This browser holds no key of your wallet, so it cannot check which keys the wallet has. Look on a device that holds one.') : null,
    h('ul', { class: 'rows', id: 'keys' }, keyRows),
    canEdit ? addPasskeyButton(user) : null,
    h('h2', {}, 'Sessions'),
    h('ul', { class: 'rows', id: 'sessions' }, sessionRows),
    h('h2', {}, 'Recent activity'),
    h('ul', { class: 'rows', id: 'activity' }, activityRows),
  );
}

// importScreen takes a recovery phrase, seals it in this browser to the
// enclave's import key, and makes the wallet from it. The phrase is never
// sent in the clear and is cleared from the field once sealed.
function importScreen(user, key) {
  const phrase = h('textarea', { id: 'phrase-input', name: 'phrase', rows: 4, required: true, autocomplete: 'off', spellcheck: 'false', autocapitalize: 'none' });
  const form = h('form', { id: 'import-form', class: 'card' },
    h('label', { for: 'phrase-input' }, 'Your recovery phrase (12 to 24 words)'),
    phrase,
    h('button', { type: 'submit', class: 'primary', id: 'import-go' }, 'Import my wallet'),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(form, async () => {
      const text = phrase.value;
      phrase.value = '';
      try {
        await wallet.importWallet(cfg, user, key, text);
      } catch (e) {
        phrase.value = text; // nothing was made: let the user correct it
        throw e;
      }
      importing = false;
      await home(user);
    });
  });
  show(
    h('h1', {}, 'Import your wallet'),
    h('p', {}, 'Your phrase is sealed in this browser to the enclave’s key before it leaves: the server relays only ciphertext, and only the enclave opens it.'),
    form,
    h('button', { type: 'button', class: 'link', onclick: () => { importing = false; signedIn({ user }, key); } }, 'Make a new wallet instead'),
  );
}

function addPasskeyButton(user) {
  const b = h('button', { type: 'button', id: 'add-passkey' }, 'Add a passkey');
  const box = h('p', {}, b);
  b.addEventListener('click', () => busy(box, async () => {
    await wallet.addPasskey(cfg, user);
    await securityScreen(user);
    status('Passkey added: it signs you in and can use your wallet.');
  }));
  return box;
}

// exportScreen is the deliberate path to the recovery phrase: a warning,
// a confirmation, proof that the user is here (their passkey, or a fresh
// email code), and then the words, shown only here and cleared when the
// user leaves the screen or the page is hidden.
async function exportScreen(user) {
  const passkeyUser = await wallet.usesPasskey(user);
  const alone = h('input', { type: 'checkbox', id: 'alone', required: true });
  const code = h('input', { id: 'export-code', name: 'code', autocomplete: 'one-time-code', spellcheck: 'false', autocapitalize: 'characters' });
  let flowID = null;
  const form = h('form', { id: 'export-form', class: 'card' },
    h('div', { class: 'check' }, alone, h('label', { for: 'alone' }, 'I am alone, and nobody can see my screen.')),
    !passkeyUser && user.email ? h('div', { class: 'reauth', hidden: true }, h('label', { for: 'export-code' }, `Code we emailed to ${user.email}`), code) : null,
    h('button', { type: 'submit', class: 'primary danger', id: 'export-go' }, passkeyUser || !user.email ? 'Show my recovery phrase' : 'Email me a code to confirm'),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(form, async () => {
      if (!passkeyUser && user.email) {
        if (!flowID) {
          flowID = (await api.call('POST', '/v1/auth/email/start', { email: user.email })).flow_id;
          form.querySelector('.reauth').hidden = false;
          form.querySelector('#export-go').textContent = 'Show my recovery phrase';
          code.focus();
          status(`We sent a code to ${user.email}.`);
          return;
        }
        const s = await api.call('POST', '/v1/auth/email/verify', { flow_id: flowID, code: code.value.trim() });
        api.setCSRF(s.csrf_token);
        if (s.user.id !== user.id) throw new Error('That code signed in another account.');
      }
      showPhrase(user, await wallet.exportPhrase(cfg, user));
    });
  });
  show(
    h('h1', {}, 'Your recovery phrase'),
    h('div', { class: 'warning', role: 'note' },
      h('p', {}, h('strong', {}, 'Anyone who sees these words can take everything in your wallet, on every chain.')),
      h('p', {}, 'Niomon will never ask for them. Write them on paper and keep it safe. Do not photograph, copy or paste them, and do not type them into any website.')),
    form,
    h('button', { type: 'button', class: 'link', onclick: () => home(user) }, 'Back to my wallet'),
  );
}

function showPhrase(user, phrase) {
  let words = phrase.split(' ');
  phrase = null;
  const list = h('ol', { id: 'phrase', class: 'phrase' }, words.map((w) => h('li', {}, w)));
  words = null;
  // Leaving the screen, or the page going to the background, clears it.
  const clearOnHide = () => {
    if (document.visibilityState === 'hidden') leave();
  };
  const leave = () => {
    document.removeEventListener('visibilitychange', clearOnHide);
    window.removeEventListener('pagehide', leave);
    list.replaceChildren();
    home(user);
  };
  document.addEventListener('visibilitychange', clearOnHide);
  window.addEventListener('pagehide', leave);
  status('');
  show(
    h('h1', {}, 'Your recovery phrase'),
    h('p', {}, 'Write these 24 words down in order. They are shown only on this screen, and cleared when you leave it.'),
    list,
    h('button', { type: 'button', class: 'primary', id: 'phrase-done', onclick: leave }, 'I wrote them down — hide them'),
  );
}

function signSection(user) {
  const msg = h('textarea', { id: 'message', name: 'message', rows: 3, required: true });
  const out = h('output', { id: 'signature', for: 'message', class: 'signature' });
  const form = h('form', { id: 'sign-form', class: 'card' },
    h('label', { for: 'message' }, 'Message to sign with your Ethereum account'),
    msg,
    h('button', { type: 'submit', class: 'primary' }, 'Sign'),
    out,
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(form, async () => {
      out.textContent = '';
      out.textContent = await wallet.signMessage(cfg, user, msg.value);
      status('Signed.');
    });
  });
  return h('section', { 'aria-labelledby': 'sign-heading' }, h('h2', { id: 'sign-heading' }, 'Sign a message'), form);
}

async function signOut() {
  try {
    await api.call('POST', '/v1/session/logout');
  } catch (e) {
    if (e.status !== 401) {
      status(e.message, 'error');
      return;
    }
  }
  signInScreen();
}

start();
