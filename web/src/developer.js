// The developer console (register an app, prove its domains, get a client
// secret) and, for administrators, app vetting and phishing overrides.
// Everything goes through the app registry's API (docs/openapi.json,
// tags apps and phishing); the server decides who may do what.

import * as api from './api.js';
import { h, show, status, busy } from './ui.js';

const statusWords = {
  pending: 'Pending review: it signs in only you, its developer.',
  verified: 'Verified: it signs in every user.',
  rejected: 'Rejected: it signs in nobody. Fix what the reason says and ask for a new review.',
  suspended: 'Suspended: it signs in nobody.',
};

const lines = (text) => text.split('\n').map((s) => s.trim()).filter(Boolean);

// developerScreen lists the user's apps and registers new ones; back
// returns to the wallet.
export async function developerScreen(back) {
  let apps;
  try {
    apps = await api.call('GET', '/v1/apps');
  } catch (e) {
    status(e.message, 'error');
    return;
  }
  let admin = false;
  try {
    await api.call('GET', '/v1/admin/apps');
    admin = true;
  } catch (e) {
    if (e.status !== 403) status(e.message, 'error');
  }
  const field = (id, label, attrs = {}, tag = 'input') => [
    h('label', { for: id }, label),
    h(tag, { id, name: id, ...attrs }),
  ];
  const form = h('form', { id: 'app-form', class: 'card' },
    ...field('app-name', 'Name', { required: true, maxlength: 128, autocomplete: 'off' }),
    ...field('app-contact', 'Contact (how we reach you)', { required: true, maxlength: 320, placeholder: 'you@example.com' }),
    ...field('app-origins', 'Origins, one a line: https://app.example.com, https://*.example.com, or http://localhost:3000', { required: true, rows: 3 }, 'textarea'),
    ...field('app-redirects', 'Redirect URIs for Login with Niomon, one a line (optional)', { rows: 2 }, 'textarea'),
    ...field('app-icon', 'Icon URL (https, optional)', { type: 'url' }),
    h('button', { type: 'submit', class: 'primary' }, 'Register the app'),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(form, async () => {
      const v = (id) => form.querySelector(`#${id}`).value.trim();
      const body = { name: v('app-name'), contact: v('app-contact'), origins: lines(v('app-origins')), redirect_uris: lines(v('app-redirects')) };
      if (v('app-icon')) body.icon_url = v('app-icon');
      await api.call('POST', '/v1/apps', body);
      await developerScreen(back);
      status('Registered. Prove each domain below; an administrator then reviews the app.');
    });
  });
  show(
    h('h1', {}, 'Developers'),
    h('p', { class: 'who' },
      h('button', { type: 'button', class: 'link', id: 'back', onclick: back }, '← Back to the wallet'),
      admin ? [' · ', h('button', { type: 'button', class: 'link', id: 'admin', onclick: () => adminScreen(back) }, 'Administration')] : null),
    h('p', { class: 'lead' }, 'Register your app to use Login with Niomon and to ask users for signatures. Users see its name, its verified domains and what it asks before they approve.'),
    h('h2', {}, 'Your apps'),
    apps.length ? h('ul', { class: 'rows', id: 'apps' }, apps.map((a) => appCard(a, () => developerScreen(back)))) : h('p', { class: 'muted' }, 'None yet.'),
    h('h2', {}, 'Register an app'),
    form,
  );
}

function appCard(a, reload) {
  const secretBox = h('div', { class: 'secret', hidden: true });
  const newSecret = h('button', { type: 'button', class: 'new-secret' }, a.client_type === 'confidential' ? 'Replace the client secret' : 'Make it a confidential client (get a secret)');
  newSecret.addEventListener('click', () => busy(card, async () => {
    const s = await api.call('POST', `/v1/apps/${encodeURIComponent(a.id)}/client-secret`);
    secretBox.replaceChildren(
      h('p', {}, 'The client secret, shown this once. Keep it on your server; anyone with it can exchange your users’ codes.'),
      h('code', { class: 'address', id: 'client-secret' }, s.client_secret));
    secretBox.hidden = false;
  }));
  const origins = a.origins.map((o) => {
    const check = (method) => h('button', { type: 'button', class: `verify-${method}`, onclick: () => busy(card, async () => {
      await api.call('POST', `/v1/apps/${encodeURIComponent(a.id)}/origins/verify`, { origin: o.origin, method });
      await reload();
      status(`${o.origin} is proved.`);
    }) }, method === 'dns' ? 'Check the DNS record' : 'Check the file');
    return h('li', { class: 'origin', 'data-origin': o.origin },
      h('code', {}, o.origin), ' ',
      o.verified ? h('span', { class: 'tag ok' }, `proved by ${o.method}`) : o.domain ? h('span', { class: 'tag' }, 'not proved') : h('span', { class: 'tag' }, 'development'),
      o.awaiting_review ? h('p', { class: 'notice' }, 'Proved after the app was verified: not trusted until an administrator reviews the app again.') : null,
      o.flagged ? h('p', { class: 'error flagged' }, `Users are ${o.verdict === 'block' ? 'blocked from' : 'warned about'} this origin: ${o.flagged}.`) : null,
      !o.verified && o.domain ? h('div', { class: 'proof' },
        h('p', {}, 'Publish either a TXT record ', h('code', {}, o.txt_name), ' holding ', h('code', {}, o.txt_value)),
        h('p', {}, 'or the file ', h('code', {}, o.file_url), ' holding ', h('code', {}, o.file_content)),
        check('dns'), check('file')) : null);
  });
  const card = h('li', { class: 'row app', 'data-app': a.id },
    h('div', {}, h('strong', {}, a.name), ' ', h('span', { class: `tag status-${a.status}` }, a.status)),
    h('p', { class: 'muted' }, statusWords[a.status] || a.status, a.status_reason ? ` Reason given: ${a.status_reason}` : ''),
    h('p', {}, 'Client id: ', h('code', {}, a.id), ` (${a.client_type})`),
    h('ul', { class: 'origins' }, origins),
    a.redirect_uris.length ? h('p', { class: 'muted' }, 'Redirect URIs: ', a.redirect_uris.join(', ')) : null,
    newSecret, secretBox);
  return card;
}

// adminScreen lists apps by status for vetting, and the phishing
// overrides.
export async function adminScreen(back, filter = 'pending') {
  let apps, phish;
  try {
    [apps, phish] = await Promise.all([
      api.call('GET', `/v1/admin/apps?status=${encodeURIComponent(filter)}`),
      api.call('GET', '/v1/admin/phishing'),
    ]);
  } catch (e) {
    status(e.message, 'error');
    return;
  }
  const filters = ['pending', 'verified', 'rejected', 'suspended'].map((f) =>
    h('button', { type: 'button', class: f === filter ? 'primary' : '', 'aria-pressed': String(f === filter), onclick: () => adminScreen(back, f) }, f));
  const rows = apps.map((a) => {
    const reason = h('input', { type: 'text', class: 'reason', 'aria-label': `Reason for ${a.name}`, placeholder: 'Reason (the developer sees it)', required: true });
    const decide = (to) => h('button', { type: 'button', class: `set-${to}`, onclick: () => busy(row, async () => {
      if (!reason.value.trim()) throw new Error('Give a reason: the developer is shown it, and it is kept in the audit log.');
      await api.call('POST', `/v1/admin/apps/${encodeURIComponent(a.id)}/status`, { status: to, reason: reason.value.trim() });
      await adminScreen(back, filter);
      status(`${a.name} is now ${to}.`);
    }) }, { verified: 'Verify', rejected: 'Reject', suspended: 'Suspend', pending: 'Back to pending' }[to]);
    const row = h('li', { class: 'row app', 'data-app': a.id },
      h('div', {}, h('strong', {}, a.name), ' ', h('span', { class: `tag status-${a.status}` }, a.status)),
      h('p', { class: 'muted' }, `Contact: ${a.contact}`, a.status_reason ? ` · Last reason: ${a.status_reason}` : ''),
      h('ul', { class: 'origins' }, a.origins.map((o) => h('li', {}, h('code', {}, o.origin), ' ', o.verified ? h('span', { class: 'tag ok' }, `proved by ${o.method}`) : h('span', { class: 'tag' }, o.domain ? 'not proved' : 'development')))),
      reason,
      h('div', { class: 'actions' }, ['verified', 'rejected', 'suspended', 'pending'].filter((s) => s !== a.status).map(decide)));
    return row;
  });
  const ov = h('form', { id: 'override-form', class: 'card' },
    h('label', { for: 'ov-host' }, 'Host (and its subdomains)'), h('input', { id: 'ov-host', required: true, placeholder: 'login.example.com' }),
    h('label', { for: 'ov-verdict' }, 'Verdict'),
    h('select', { id: 'ov-verdict' }, ['block', 'warn', 'allow'].map((v) => h('option', { value: v }, v))),
    h('label', { for: 'ov-reason' }, 'Reason'), h('input', { id: 'ov-reason', required: true }),
    h('label', { for: 'ov-appeal' }, 'What a blocked user is told to do (optional)'), h('input', { id: 'ov-appeal' }),
    h('button', { type: 'submit', class: 'primary' }, 'Set the override'));
  ov.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(ov, async () => {
      const v = (id) => ov.querySelector(`#${id}`).value.trim();
      await api.call('POST', '/v1/admin/phishing/overrides', { host: v('ov-host'), verdict: v('ov-verdict'), reason: v('ov-reason'), appeal: v('ov-appeal') });
      await adminScreen(back, filter);
      status('Override set.');
    });
  });
  show(
    h('h1', {}, 'Administration'),
    h('p', { class: 'who' }, h('button', { type: 'button', class: 'link', id: 'back', onclick: back }, '← Back to the wallet')),
    h('h2', {}, 'Apps'),
    h('div', { class: 'actions filters' }, filters),
    rows.length ? h('ul', { class: 'rows', id: 'admin-apps' }, rows) : h('p', { class: 'muted' }, `No ${filter} apps.`),
    h('h2', {}, 'Phishing'),
    h('p', { class: 'muted' }, `The checker holds ${phish.deny} blocked and ${phish.allow} allowed entries, and ${phish.targets} registered domains.`),
    phish.lists.length ? h('ul', { class: 'rows' }, phish.lists.map((l) => h('li', { class: 'row' },
      h('strong', {}, l.name), ` · ${l.deny} blocked · ${l.source}`, l.error ? h('p', { class: 'error' }, `Last read failed: ${l.error}`) : null))) : null,
    phish.overrides.length ? h('ul', { class: 'rows', id: 'overrides' }, phish.overrides.map((o) => h('li', { class: 'row' },
      h('code', {}, o.host), ' ', h('span', { class: 'tag' }, o.verdict), ` ${o.reason}`))) : null,
    ov,
  );
}
