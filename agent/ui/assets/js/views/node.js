// One node: address, meta, its services and every check on it. One
// blocking query on /v1/internal/ui/node/<name>.
import { watch } from '../api.js';
import { h, replace, empty, banner, td, tags, metaList, props } from '../dom.js';
import { href } from '../router.js';
import { badge, worst } from '../health.js';
import { checksTable } from './service.js';

export async function render(ctx) {
  const { main, dc, rest: name, signal } = ctx;
  const state = h('span', {});
  const errors = h('div', {});
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading node…'));
  replace(main,
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: href(dc, 'nodes') }, 'Nodes'), h('span', { 'aria-hidden': true }, '/'), h('span', {}, name)),
    h('div', { class: 'title-row' }, h('h1', {}, name), state),
    errors, body);

  let seen = false;
  watch(`/v1/internal/ui/node/${encodeURIComponent(name)}`, { dc, signal, notFoundOK: true }, (n) => {
    replace(errors);
    if (!n) {
      replace(state);
      replace(body, empty(`Node ${name} is not in the catalog of ${dc}.`, 'It may have left, or been reaped after failing.'));
      return;
    }
    seen = true;
    replace(state, badge(worst(n.Checks)));
    const tagged = Object.entries(n.TaggedAddresses || {}).map(([k, v]) => `${k}: ${v}`).join(', ');
    replace(body,
      h('section', { class: 'card' }, props([
        ['Address', h('span', { class: 'mono' }, n.Address)],
        ['Node ID', h('span', { class: 'mono' }, n.ID || '—')],
        ['Tagged addresses', tagged || h('span', { class: 'muted' }, 'none')],
        ['Meta', metaList(n.Meta)],
      ])),
      h('h2', {}, 'Services'),
      n.Services.length === 0 ? empty('No services on this node.') : h('table', { class: 'list' },
        h('thead', {}, h('tr', {}, ['Service', 'ID', 'Port', 'Tags', 'Health'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, n.Services.map((s) => {
          const own = n.Checks.filter((c) => c.ServiceID === s.ID || c.ServiceID === '');
          return h('tr', { 'data-service': s.Service },
            td('Service', {}, h('a', { href: href(dc, 'services', s.Service) }, s.Service)),
            td('ID', { class: 'mono' }, s.ID),
            td('Port', { class: 'mono' }, s.Port ? String(s.Port) : '—'),
            td('Tags', {}, tags(s.Tags)),
            td('Health', {}, badge(worst(own))));
        }))),
      h('h2', {}, 'Checks'),
      checksTable(n.Checks, { withService: true }));
  }, (err) => {
    replace(errors, banner('error', err.message, seen ? ' Showing the last known state; retrying.' : ' Retrying.'));
  });
}
