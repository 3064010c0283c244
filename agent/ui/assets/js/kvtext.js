// Key/value values as text: base64 decoding, JSON detection and the
// validating editor shared by the key and create forms.
import { h } from './dom.js';

// decode turns the API's base64 Value into text, or null for bytes that
// are not UTF-8.
export function decode(b64) {
  if (!b64) return '';
  const bin = atob(b64);
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

// asJSON returns the pretty-printed form of text when it is a JSON object
// or array, else null.
export function asJSON(text) {
  const t = text.trim();
  if (!(t.startsWith('{') || t.startsWith('['))) return null;
  try {
    return JSON.stringify(JSON.parse(t), null, 2);
  } catch {
    return null;
  }
}

// editor builds a textarea with a JSON switch, validation and a Format
// button. onChange runs after every edit with the editor itself.
export function editor({ text = '', json = false, label = 'Value', onChange = () => {} } = {}) {
  const area = h('textarea', { spellcheck: 'false', 'aria-label': label, 'data-editor': true });
  area.value = text;
  const jsonBox = h('input', { type: 'checkbox', checked: json, 'data-json': true });
  const format = h('button', { type: 'button' }, 'Format JSON');
  const msg = h('div', { class: 'field-error', role: 'status', 'aria-live': 'polite' });
  const ed = {
    el: h('div', { class: 'field' },
      h('span', {}, label),
      area,
      h('div', { class: 'actions' }, h('label', { class: 'check-inline' }, jsonBox, 'JSON'), format),
      msg),
    get value() { return area.value; },
    set value(v) { area.value = v; validate(); },
    get valid() { return validate(); },
    setJSON(on) { jsonBox.checked = on; validate(); },
    focus() { area.focus(); },
  };
  function validate() {
    format.hidden = !jsonBox.checked;
    if (!jsonBox.checked) { msg.textContent = ''; return true; }
    try {
      JSON.parse(area.value);
      msg.textContent = '';
      return true;
    } catch (err) {
      msg.textContent = `Not valid JSON: ${err.message}`;
      return false;
    }
  }
  area.addEventListener('input', () => { validate(); onChange(ed); });
  jsonBox.addEventListener('change', () => { validate(); onChange(ed); });
  format.addEventListener('click', () => {
    try {
      area.value = JSON.stringify(JSON.parse(area.value), null, 2);
    } catch { /* validate() shows why */ }
    validate();
    onChange(ed);
  });
  validate();
  return ed;
}
