// A small DOM helper: no framework, no HTML strings, so nothing the
// server or a user types can become markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// show replaces the main content and moves focus to its heading, so a
// screen reader announces the new screen.
export function show(...children) {
  status('');
  const main = document.getElementById('main');
  main.replaceChildren(...children.filter((c) => c !== null && c !== undefined && c !== false));
  const heading = main.querySelector('h1, h2');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus();
  }
}

// status shows a message in the live region: kind is 'error' or 'info'.
export function status(text, kind = 'info') {
  const el = document.getElementById('status');
  el.className = text ? `status ${kind}` : 'status';
  el.textContent = text || '';
}

// busy disables a form's controls while fn runs, and shows fn's error.
export async function busy(form, fn) {
  const controls = [...form.querySelectorAll('button, input, textarea')];
  controls.forEach((c) => (c.disabled = true));
  status('');
  try {
    await fn();
  } catch (e) {
    status(e.message || String(e), 'error');
  } finally {
    controls.forEach((c) => (c.disabled = false));
  }
}
