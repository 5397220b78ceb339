// EIP-6963: the provider announces itself, so wallet pickers (wagmi,
// RainbowKit, Web3Modal) list it next to the others, instead of fighting
// over window.ethereum.

export const NIOMON_RDNS = 'io.niomon';

// A 96x96 SVG icon as a data URI, as EIP-6963 asks.
export const NIOMON_ICON = 'data:image/svg+xml,' + encodeURIComponent(
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 96 96"><rect width="96" height="96" rx="20" fill="#2346c8"/>'
  + '<path d="M28 70V26h8l24 30V26h8v44h-8L36 40v30z" fill="#fff"/></svg>');

// announceProvider announces provider on target (the window) now and
// whenever a page asks (eip6963:requestProvider). It returns a function
// that stops answering.
export function announceProvider(provider, { target = globalThis.window, uuid, name = 'Niomon', icon = NIOMON_ICON, rdns = NIOMON_RDNS } = {}) {
  const info = Object.freeze({ uuid: uuid || uuidV4(), name, icon, rdns });
  const detail = Object.freeze({ info, provider });
  const announce = () => target.dispatchEvent(new CustomEvent('eip6963:announceProvider', { detail }));
  target.addEventListener('eip6963:requestProvider', announce);
  announce();
  return () => target.removeEventListener('eip6963:requestProvider', announce);
}

// uuidV4 is a random UUID (RFC 9562 version 4). crypto.randomUUID exists
// only in secure contexts, and a dApp in development may be on plain http.
function uuidV4() {
  const b = globalThis.crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = Array.from(b, (v) => v.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
