// One service: every instance (node, address, port, tags, meta) and its
// checks with status and output. One blocking query on
// /v1/health/service/<name>.
import { watch } from '../api.js';
import { h, replace, empty, banner, td, tags, metaList } from '../dom.js';
import { href } from '../router.js';
import { badge, worst, rollup, rank } from '../health.js';

export async function render(ctx) {
  const { main, dc, rest: name, signal } = ctx;
  const summary = h('div', { 'aria-live': 'polite' });
  const errors = h('div', {});
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading instances…'));
  replace(main,
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: href(dc, 'services') }, 'Services'), h('span', { 'aria-hidden': true }, '/'), h('span', {}, name)),
    h('div', { class: 'title-row' }, h('h1', {}, name), summary),
    errors, body);

  let seen = false;
  watch(`/v1/health/service/${encodeURIComponent(name)}`, { dc, signal }, (entries) => {
    seen = true;
    replace(errors);
    entries = entries || [];
    const states = entries.map((e) => worst(e.Checks));
    replace(summary, rollup({
      passing: states.filter((s) => rank(s) === 0).length,
      warning: states.filter((s) => rank(s) === 1).length,
      critical: states.filter((s) => rank(s) === 2).length,
    }, 'instances'));
    if (entries.length === 0) {
      replace(body, empty(`No instance of ${name} is registered in ${dc}.`, 'It may have been deregistered, or it runs in another datacenter.'));
      return;
    }
    replace(body, entries.map((e, i) => instance(dc, e, states[i])));
  }, (err) => {
    replace(errors, banner('error', err.message, seen ? ' Showing the last known state; retrying.' : ' Retrying.'));
  });
}

function instance(dc, e, state) {
  const s = e.Service;
  const address = s.Address || e.Node.Address;
  return h('section', { class: 'card', 'data-instance': `${e.Node.Node}/${s.ID}`, 'aria-label': `Instance ${s.ID} on ${e.Node.Node}` },
    h('div', { class: 'title-row' },
      h('h2', {}, s.ID),
      badge(state)),
    h('dl', { class: 'props' },
      h('dt', {}, 'Node'), h('dd', {}, h('a', { href: href(dc, 'nodes', e.Node.Node) }, e.Node.Node)),
      h('dt', {}, 'Address'), h('dd', { class: 'mono' }, address + (s.Address ? '' : ' (node address)')),
      h('dt', {}, 'Port'), h('dd', { class: 'mono' }, s.Port ? String(s.Port) : '—'),
      h('dt', {}, 'Tags'), h('dd', {}, s.Tags.length ? tags(s.Tags) : h('span', { class: 'muted' }, 'none')),
      h('dt', {}, 'Meta'), h('dd', {}, metaList(s.Meta))),
    h('h3', {}, 'Checks'),
    checksTable(e.Checks));
}

// checksTable lists checks with status and output; shared with the node page.
export function checksTable(checks, { withService = false } = {}) {
  if (!checks || checks.length === 0) return empty('No checks.', 'Without checks an instance counts as passing.');
  return h('table', { class: 'list' },
    h('thead', {}, h('tr', {}, ['Check', withService ? 'Service' : null, 'Status', 'Output'].filter(Boolean).map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, checks.map((c) => h('tr', { 'data-check': c.CheckID, 'data-status': c.Status },
      td('Check', {}, h('div', {}, c.Name || c.CheckID), h('div', { class: 'muted mono' }, c.CheckID + (c.Type ? ` · ${c.Type}` : ''))),
      withService ? td('Service', {}, c.ServiceName || h('span', { class: 'muted' }, 'node')) : null,
      td('Status', {}, badge(c.Status)),
      td('Output', {}, c.Output ? h('pre', {}, c.Output) : h('span', { class: 'muted' }, c.Notes || 'no output'))))));
}
