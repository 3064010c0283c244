// Small DOM helpers: h() builds elements, nothing else is needed.

// h(tag, attrs, ...children) creates an element. attrs keys starting with
// "on" add listeners; class, for and data-* are set as attributes; false,
// null and undefined attributes and children are skipped.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'hidden') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// replace swaps an element's children for new ones. When the focus was
// inside, it moves to the new element with the same link or id, so a live
// update never throws a keyboard user back to the top of the page.
export function replace(el, ...children) {
  const active = document.activeElement;
  const key = active && active !== el && el.contains(active) ? focusKey(active) : null;
  el.replaceChildren();
  append(el, children);
  if (key) {
    const again = el.querySelector(key);
    if (again) again.focus({ preventScroll: true });
  }
}

function focusKey(node) {
  const href = node.getAttribute('href');
  if (href) return `${node.tagName.toLowerCase()}[href="${CSS.escape(href)}"]`;
  if (node.id) return `#${CSS.escape(node.id)}`;
  return null;
}

// svg creates an SVG element with attributes.
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : String(c));
  return el;
}

// empty is the block shown when a list has nothing to show.
export function empty(title, detail) {
  return h('div', { class: 'empty', 'data-empty': true }, h('strong', {}, title), detail ? h('span', {}, detail) : null);
}

// banner is a message box; kind is error, warn or info.
export function banner(kind, ...children) {
  return h('div', { class: `banner ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, ...children);
}

// td makes a table cell labelled for the narrow layout.
export function td(label, attrs, ...children) {
  return h('td', { 'data-label': label, ...attrs }, ...children);
}

export function tags(list) {
  return (list || []).map((t) => h('span', { class: 'tag' }, t));
}

// props renders a definition list of [name, value] pairs.
export function props(pairs) {
  return h('dl', { class: 'props' }, pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export function metaList(meta) {
  const entries = Object.entries(meta || {});
  if (entries.length === 0) return h('span', { class: 'muted' }, 'none');
  return entries.map(([k, v]) => h('span', { class: 'tag mono' }, `${k}=${v}`));
}
