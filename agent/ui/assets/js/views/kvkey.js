// One key: view and edit its value. Edits are compare-and-set on the
// ModifyIndex the edit started from: a change by someone else in between
// is shown next to the edit, never overwritten. One blocking query on
// /v1/kv/<key>.
import { watch, request } from '../api.js';
import { h, replace, empty, banner, props } from '../dom.js';
import { href, navigate } from '../router.js';
import { confirmDialog } from '../dialog.js';
import { editor, decode, asJSON } from '../kvtext.js';
import { crumbs, parentOf, encodePath } from './kv.js';

export async function render(ctx) {
  const { main, dc, rest: key, signal } = ctx;
  const path = `/v1/kv/${encodePath(key)}`;
  const errors = h('div', {});
  const notice = h('div', {});
  const info = h('div', {});
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading value…'));
  const save = h('button', { type: 'button', class: 'primary', disabled: true, 'data-save': true }, 'Save');
  const revert = h('button', { type: 'button', disabled: true }, 'Revert');
  const del = h('button', { type: 'button', class: 'danger', 'data-delete': true }, 'Delete key');
  replace(main, crumbs(dc, key), h('div', { class: 'title-row' }, h('h1', {}, key)), errors, notice, info, body);

  let base = null; // the entry the edit started from (null: key absent)
  let shown = ''; // the text the editor showed for base
  let binary = false;
  let saving = false; // a write of ours is in flight; its result reloads
  const ed = editor({ label: 'Value', onChange: update });

  function dirty() { return ed.value !== shown; }
  function update() {
    save.disabled = !base || binary || !dirty() || !ed.valid;
    revert.disabled = !dirty();
  }

  function load(entry) {
    base = entry;
    const text = decode(entry.Value);
    binary = text === null;
    const pretty = binary ? null : asJSON(text);
    shown = binary ? entry.Value : (pretty ?? text);
    ed.value = shown;
    ed.setJSON(pretty !== null);
    replace(info, h('section', { class: 'card' }, props([
      ['Modify index', String(entry.ModifyIndex)],
      ['Create index', String(entry.CreateIndex)],
      ['Flags', String(entry.Flags)],
      ['Locked by session', entry.Session || h('span', { class: 'muted' }, 'none')],
      ['Format', binary ? 'binary (shown as base64, read-only)' : pretty !== null ? 'JSON (pretty-printed)' : 'text'],
    ])));
    update();
  }

  function drawEditor() {
    replace(body, ed.el, h('div', { class: 'actions' }, save, revert, del));
  }

  revert.addEventListener('click', () => { ed.value = shown; replace(notice); update(); });

  save.addEventListener('click', async () => {
    if (!ed.valid) return;
    save.disabled = true;
    await put(ed.value, base.ModifyIndex);
  });

  // put writes text if the key is still at index cas (0: still absent).
  async function put(text, cas) {
    saving = true;
    try {
      const { data } = await request(path, { method: 'PUT', params: { cas }, dc, body: text });
      if (data === true) {
        shown = ed.value; // our own write is not someone else's change
        replace(notice, banner('info', 'Saved.'));
        const fresh = await request(path, { dc, notFoundOK: true });
        if (fresh.data) load(fresh.data[0]);
        return;
      }
      await conflict(text);
    } catch (err) {
      replace(notice, banner('error', `Not saved: ${err.message}`));
      update();
    } finally {
      saving = false;
    }
  }

  // conflict shows the user's text next to the value someone else wrote.
  async function conflict(mine) {
    let current = null;
    try {
      const r = await request(path, { dc, notFoundOK: true });
      current = r.data ? r.data[0] : null;
    } catch (err) {
      replace(notice, banner('error', `Someone else changed this key, and reading their version failed: ${err.message}. Nothing was overwritten.`));
      return;
    }
    const theirs = current ? decode(current.Value) : null;
    const theirsText = current ? (theirs === null ? current.Value : (asJSON(theirs) ?? theirs)) : '(the key was deleted)';
    const keepMine = h('button', { type: 'button', class: 'primary' }, 'Save mine over theirs');
    const takeTheirs = h('button', { type: 'button' }, current ? 'Discard mine, use theirs' : 'Discard mine');
    replace(notice, banner('warn',
      h('div', { class: 'conflict', 'data-conflict': true },
        h('strong', {}, 'Someone else changed this key while you were editing. Nothing was overwritten.'),
        h('div', { class: 'cols' },
          h('div', {}, h('h3', {}, 'Your version'), h('pre', { 'data-mine': true }, mine)),
          h('div', {}, h('h3', {}, current ? `Their version (modify index ${current.ModifyIndex})` : 'Their version'), h('pre', { 'data-theirs': true }, theirsText))),
        h('div', { class: 'actions' }, keepMine, takeTheirs))));
    keepMine.addEventListener('click', () => {
      replace(notice);
      put(mine, current ? current.ModifyIndex : 0);
    });
    takeTheirs.addEventListener('click', () => {
      replace(notice);
      if (current) load(current);
      else navigate(href(dc, 'kv', parentOf(key)));
    });
    takeTheirs.focus();
    update();
  }

  del.addEventListener('click', async () => {
    const yes = await confirmDialog(`Delete key ${key}?`, 'The key and its value are deleted. This cannot be undone.', 'Delete key');
    if (!yes) { del.focus(); return; }
    try {
      const { data } = await request(path, { method: 'DELETE', params: { cas: base.ModifyIndex }, dc });
      if (data === true) { navigate(href(dc, 'kv', parentOf(key))); return; }
      replace(notice, banner('warn', 'Not deleted: someone else changed the key since you loaded it. Check the new value below and delete again if you still mean to.'));
      const fresh = await request(path, { dc, notFoundOK: true });
      if (fresh.data && !dirty()) load(fresh.data[0]);
    } catch (err) {
      replace(notice, banner('error', `Not deleted: ${err.message}`));
    }
  });

  let seen = false;
  watch(path, { dc, signal, notFoundOK: true }, (entries) => {
    replace(errors);
    const entry = entries ? entries[0] : null;
    if (!entry) {
      if (base && dirty()) {
        replace(notice, banner('warn', 'Someone else deleted this key while you were editing. Saving will ask what to do.'));
        return;
      }
      base = null;
      replace(info);
      replace(body, empty(`There is no key ${key} in ${dc}.`, 'It may have been deleted. '), h('p', {}, h('a', { href: href(dc, 'kv', parentOf(key)) }, 'Back to the folder')));
      return;
    }
    if (!seen || !base || !dirty()) {
      const first = !seen || !base;
      load(entry);
      if (first) drawEditor();
      seen = true;
      return;
    }
    if (!saving && entry.ModifyIndex !== base.ModifyIndex) {
      replace(notice, banner('warn', `Someone else changed this key (modify index ${entry.ModifyIndex}) since you started editing. Saving will show both versions first.`));
    }
  }, (err) => {
    replace(errors, banner('error', err.message, seen ? ' Retrying.' : ' Retrying.'));
  });
}
