// Key/value: a folder (keys up to the next "/") or one key. Folders hold
// one blocking query on /v1/kv/<prefix>?keys&separator=/.
import { watch, request } from '../api.js';
import { h, replace, empty, banner, td } from '../dom.js';
import { href, navigate } from '../router.js';
import { confirmDialog } from '../dialog.js';
import { editor } from '../kvtext.js';
import * as key from './kvkey.js';

export async function render(ctx) {
  if (ctx.rest && !ctx.rest.endsWith('/')) return key.render(ctx);
  return folder(ctx);
}

// crumbs links every folder above path.
export function crumbs(dc, path) {
  const parts = path.split('/').filter((p, i, all) => p !== '' || i < all.length - 1);
  const out = [h('a', { href: href(dc, 'kv') }, 'Key/Value')];
  let acc = '';
  parts.forEach((p, i) => {
    acc += p + (i < parts.length - 1 || path.endsWith('/') ? '/' : '');
    out.push(h('span', { 'aria-hidden': true }, '/'));
    out.push(i === parts.length - 1 ? h('span', {}, p) : h('a', { href: href(dc, 'kv', acc) }, p));
  });
  return h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, out);
}

export function parentOf(path) {
  const trimmed = path.endsWith('/') ? path.slice(0, -1) : path;
  const i = trimmed.lastIndexOf('/');
  return i < 0 ? '' : trimmed.slice(0, i + 1);
}

async function folder(ctx) {
  const { main, dc, rest: prefix, query, signal } = ctx;
  const errors = h('div', {});
  const notice = h('div', {});
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading keys…'));
  const createBox = h('div', {});
  const newButton = h('button', { type: 'button', class: 'primary', 'aria-expanded': 'false' }, 'Create key');
  const deleteButton = prefix ? h('button', { type: 'button', class: 'danger' }, 'Delete folder') : null;
  replace(main,
    crumbs(dc, prefix),
    h('div', { class: 'title-row' }, h('h1', {}, prefix || 'Key/Value'), h('div', { class: 'actions' }, newButton, deleteButton)),
    notice, createBox, errors, body);

  newButton.addEventListener('click', () => {
    const open = newButton.getAttribute('aria-expanded') === 'true';
    newButton.setAttribute('aria-expanded', String(!open));
    if (open) replace(createBox);
    else replace(createBox, createForm(ctx, () => { replace(createBox); newButton.setAttribute('aria-expanded', 'false'); newButton.focus(); }));
  });
  if (query.get('new')) newButton.click();

  deleteButton?.addEventListener('click', async () => {
    const yes = await confirmDialog(`Delete folder ${prefix}?`,
      `Every key under ${prefix} is deleted. This cannot be undone.`, 'Delete folder');
    if (!yes) { deleteButton.focus(); return; }
    try {
      await request(`/v1/kv/${encodePath(prefix)}`, { method: 'DELETE', params: { recurse: true }, dc });
      navigate(href(dc, 'kv', parentOf(prefix)));
    } catch (err) {
      replace(errors, banner('error', `Not deleted: ${err.message}`));
    }
  });

  let seen = false;
  watch(`/v1/kv/${encodePath(prefix)}`, { dc, signal, params: { keys: true, separator: '/' }, notFoundOK: true }, (keys) => {
    seen = true;
    replace(errors);
    keys = (keys || []).filter((k) => k !== prefix);
    if (keys.length === 0) {
      replace(body, prefix
        ? empty('This folder is empty.', 'Create a key here, or delete the folder.')
        : empty(`No keys in ${dc} yet.`, 'Create the first one with “Create key”.'));
      return;
    }
    replace(body, h('table', { class: 'list' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Key'), h('th', { scope: 'col' }, 'Kind'))),
      h('tbody', {}, keys.map((k) => {
        const isFolder = k.endsWith('/');
        return h('tr', { 'data-key': k },
          td('Key', {}, h('a', { href: href(dc, 'kv', k) }, k.slice(prefix.length))),
          td('Kind', { class: 'muted' }, isFolder ? 'folder' : 'key'));
      }))));
  }, (err) => {
    replace(errors, banner('error', err.message, seen ? ' Showing the last known keys; retrying.' : ' Retrying.'));
  });
}

function createForm(ctx, close) {
  const { dc, rest: prefix } = ctx;
  const name = h('input', { type: 'text', required: true, 'aria-describedby': 'new-key-hint', 'data-new-key': true, autocomplete: 'off' });
  const msg = h('div', {});
  const ed = editor({ label: 'Value', onChange: () => { create.disabled = !ed.valid; } });
  const create = h('button', { type: 'submit', class: 'primary' }, 'Create');
  const form = h('form', { class: 'card', 'aria-label': 'Create a key' },
    h('h2', {}, 'Create a key'),
    h('label', { class: 'field' }, h('span', {}, `Name (under ${prefix || 'the root'})`), name),
    h('p', { id: 'new-key-hint', class: 'muted' }, 'A name ending in / creates a folder.'),
    ed.el, msg,
    h('div', { class: 'actions' }, create, h('button', { type: 'button', onclick: close }, 'Cancel')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const rel = name.value.trim();
    if (!rel) { replace(msg, banner('error', 'Give the key a name.')); name.focus(); return; }
    if (rel.startsWith('/')) { replace(msg, banner('error', 'A key name cannot start with /.')); name.focus(); return; }
    if (!ed.valid) { ed.focus(); return; }
    const full = prefix + rel;
    const isFolder = full.endsWith('/');
    create.disabled = true;
    try {
      // cas=0 writes only if the key does not exist: creating never
      // overwrites someone else's key.
      const { data } = await request(`/v1/kv/${encodePath(full)}`, { method: 'PUT', params: { cas: 0 }, dc, body: isFolder ? '' : ed.value });
      if (data === true) {
        navigate(href(dc, 'kv', full));
        return;
      }
      replace(msg, banner('warn', `A key named ${full} already exists; nothing was overwritten. `, h('a', { href: href(dc, 'kv', full) }, 'Open it')));
    } catch (err) {
      replace(msg, banner('error', `Not created: ${err.message}`));
    }
    create.disabled = false;
  });
  queueMicrotask(() => name.focus());
  return form;
}

export function encodePath(path) {
  return path.split('/').map(encodeURIComponent).join('/');
}
