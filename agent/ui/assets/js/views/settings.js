// Settings: the ACL token sent as X-Consul-Token with every request, kept
// in this browser's local storage.
import { token, setToken, request } from '../api.js';
import { h, replace, banner, props } from '../dom.js';

export async function render(ctx) {
  const { main } = ctx;
  const input = h('input', { type: 'password', value: token(), autocomplete: 'off', spellcheck: 'false', 'data-token': true, size: 40 });
  const show = h('input', { type: 'checkbox' });
  const msg = h('div', { role: 'status', 'aria-live': 'polite' });
  const about = h('div', {});
  show.addEventListener('change', () => { input.type = show.checked ? 'text' : 'password'; });
  const form = h('form', { class: 'card' },
    h('h2', {}, 'Token'),
    h('p', { class: 'muted' }, 'Sent as the X-Consul-Token header with every request this console makes. It stays in this browser (local storage) and goes only to this agent.'),
    h('label', { class: 'field' }, h('span', {}, 'ACL token'), input),
    h('label', { class: 'check-inline' }, show, 'Show token'),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary' }, 'Save token'),
      h('button', { type: 'button', onclick: () => { input.value = ''; setToken(''); replace(msg, banner('info', 'Token removed; requests go without one.')); } }, 'Remove token')),
    msg);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    setToken(input.value.trim());
    replace(msg, banner('info', input.value.trim() ? 'Token saved; every request now carries it.' : 'Token removed.'));
    if (ctx.reloadOnSave) location.reload();
  });
  replace(main, h('h1', {}, 'Settings'), form,
    h('section', { class: 'card' }, h('h2', {}, 'Display'), h('p', {}, 'The colours follow your system’s light or dark setting. Press / on a list to jump to its filter.')),
    about);
  try {
    const { data } = await request('/v1/agent/self', { signal: ctx.signal });
    replace(about, h('section', { class: 'card' }, h('h2', {}, 'This agent'), props([
      ['Node', data.Config.NodeName],
      ['Datacenter', data.Config.Datacenter],
      ['Server', String(data.Config.Server ?? data.Stats?.consul?.server)],
      ['Version', data.Config.Version || data.Stats?.build?.version || ''],
    ])));
  } catch { /* the token form is what matters here */ }
}
