// QR codes of addresses, drawn as SVG elements (no canvas, no markup
// strings, so the strict CSP holds). The encoding is the qrcode package's
// own (its core, without its renderers).

import { create } from 'qrcode/lib/core/qrcode.js';

const svgNS = 'http://www.w3.org/2000/svg';

// qrSVG returns an <svg> of text's QR code, with a quiet zone of four
// modules, labelled for assistive technology.
export function qrSVG(text, label) {
  const qr = create(text, { errorCorrectionLevel: 'M' });
  const n = qr.modules.size;
  const size = n + 8;
  const svg = document.createElementNS(svgNS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${size} ${size}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  svg.setAttribute('class', 'qr');
  const bg = document.createElementNS(svgNS, 'rect');
  bg.setAttribute('width', String(size));
  bg.setAttribute('height', String(size));
  bg.setAttribute('fill', '#fff');
  svg.append(bg);
  // One path of unit squares: small, and crisp at any size.
  let d = '';
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      if (qr.modules.get(y, x)) d += `M${x + 4} ${y + 4}h1v1h-1z`;
    }
  }
  const path = document.createElementNS(svgNS, 'path');
  path.setAttribute('d', d);
  path.setAttribute('fill', '#000');
  svg.append(path);
  return svg;
}
