import { test } from 'node:test';
import assert from 'node:assert/strict';

import { announceProvider, NiomonProvider, NIOMON_RDNS } from '../src/index.js';

test('the provider announces itself, and again whenever a page asks', () => {
  const win = new EventTarget();
  const seen = [];
  win.addEventListener('eip6963:announceProvider', (e) => seen.push(e.detail));
  const provider = new NiomonProvider({ transport: { request: async () => null } });
  const stop = announceProvider(provider, { target: win });
  assert.equal(seen.length, 1);
  const { info } = seen[0];
  assert.equal(seen[0].provider, provider);
  assert.equal(info.rdns, NIOMON_RDNS);
  assert.equal(info.name, 'Niomon');
  assert.match(info.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a version 4 UUID');
  assert.match(info.icon, /^data:image\/svg\+xml,/);
  assert.ok(Object.isFrozen(seen[0]) && Object.isFrozen(info));
  win.dispatchEvent(new Event('eip6963:requestProvider'));
  assert.equal(seen.length, 2);
  assert.equal(seen[1].info.uuid, info.uuid, 'one uuid per page');
  stop();
  win.dispatchEvent(new Event('eip6963:requestProvider'));
  assert.equal(seen.length, 2);
});
