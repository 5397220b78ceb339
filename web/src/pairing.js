// Pairing a second device (server side: internal/server/pairing.go). The
// new device shows a code derived from its key's public half; the device
// that approves recomputes it from the key the server hands over, so a
// server that swapped the key is caught. The code is the first 50 bits of
// SHA-256 of the SPKI in Crockford base32 (nioapi.PairingCode).

import { sha256 } from './bytes.js';

const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export async function pairingCode(spki) {
  const h = await sha256(spki);
  let v = 0n;
  for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(h[i]);
  v >>= 14n;
  let out = '';
  for (let i = 0; i < 10; i++) {
    out = alphabet[Number(v & 31n)] + out;
    v >>= 5n;
  }
  return out;
}

// normalizeCode reads a code as a person types it: any case, with dashes
// or spaces, and O, I and L read as 0, 1 and 1 (Crockford's rules).
export function normalizeCode(s) {
  return s.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
}

export const showCode = (code) => `${code.slice(0, 5)}-${code.slice(5)}`;
