// Every datacenter with its servers, leader and health, and the estimated
// round-trip time between datacenters from WAN network coordinates, as a
// table and a picture. Sources: /v1/catalog/datacenters (nearest first),
// /v1/status/leader and /v1/status/peers and /v1/internal/ui/services per
// ?dc=, and /v1/coordinate/datacenters. None of them blocks, so the view
// holds one blocking query on this datacenter's catalog (wait 30s) and
// refreshes the figures each time it returns, at most every 5 s.
import { watch, request, sleep } from '../api.js';
import { h, replace, banner, td, svg, empty } from '../dom.js';
import { href } from '../router.js';
import { badge, rollup } from '../health.js';
import { dcDistances } from '../rtt.js';

export async function render(ctx) {
  const { main, localDC, signal } = ctx;
  const errors = h('div', {});
  const table = h('div', {}, h('p', { class: 'muted' }, 'Loading datacenters…'));
  const rtt = h('div', {});
  replace(main,
    h('h1', {}, 'Federation'),
    h('p', { class: 'muted' }, 'Every datacenter this agent can reach, nearest first, with the round-trip times estimated from network coordinates.'),
    errors, table, h('h2', {}, 'Round-trip times'), rtt);

  let busy = false;
  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const { data: dcs } = await request('/v1/catalog/datacenters', { signal });
      const list = Array.isArray(dcs) && dcs.length ? dcs : [localDC];
      const [rows, coords] = await Promise.all([
        Promise.all(list.map((dc) => summary(dc, signal))),
        request('/v1/coordinate/datacenters', { signal, notFoundOK: true }).catch((err) => ({ error: err })),
      ]);
      if (signal.aborted) return;
      replace(errors);
      drawTable(table, rows, localDC);
      drawRTT(rtt, list, rows, coords, localDC);
    } catch (err) {
      if (!signal.aborted) replace(errors, banner('error', err.message, ' Retrying.'));
    } finally {
      busy = false;
    }
  }

  // Refresh at most every 5 s however busy this DC's catalog is: the next
  // blocking request waits until the refresh (and the pause) is done.
  let last = 0;
  watch('/v1/internal/ui/nodes', { dc: localDC, signal, wait: '30s', always: true }, async () => {
    await sleep(Math.max(0, last + 5000 - Date.now()), signal);
    last = Date.now();
    await refresh();
  }, (err) => replace(errors, banner('error', err.message, ' Retrying.')));
}

// summary reads one datacenter's servers, leader and health; a failure is
// kept in the row, not thrown.
async function summary(dc, signal) {
  const get = (path) => request(path, { dc, signal }).then((r) => r.data);
  const [leader, peers, services] = await Promise.allSettled([
    get('/v1/status/leader'), get('/v1/status/peers'), get('/v1/internal/ui/services')]);
  const row = { dc, leader: '', peers: [], services: null, error: '' };
  if (leader.status === 'fulfilled') row.leader = leader.value || '';
  if (peers.status === 'fulfilled') row.peers = peers.value || [];
  if (services.status === 'fulfilled') row.services = services.value || [];
  const failed = [leader, peers, services].find((r) => r.status === 'rejected');
  if (failed) row.error = failed.reason.message;
  return row;
}

function drawTable(el, rows, localDC) {
  replace(el, h('table', { class: 'list', 'data-federation': true },
    h('thead', {}, h('tr', {}, ['Datacenter', 'Servers', 'Leader', 'Health'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows.map((r) => {
      const inst = { passing: 0, warning: 0, critical: 0 };
      for (const s of r.services || []) {
        inst.passing += s.InstancesPassing; inst.warning += s.InstancesWarning; inst.critical += s.InstancesCritical;
      }
      return h('tr', { 'data-dc': r.dc },
        td('Datacenter', {}, h('a', { href: href(r.dc, 'services') }, r.dc), r.dc === localDC ? h('span', { class: 'muted' }, ' (this agent)') : null),
        td('Servers', {}, r.peers.length ? r.peers.map((p) => h('div', { class: 'mono' }, p, p === r.leader ? h('span', { class: 'muted' }, ' leader') : null)) : h('span', { class: 'muted' }, 'none known')),
        td('Leader', {}, r.leader ? badge('passing', 'elected') : badge('critical', r.error ? 'unreachable' : 'no leader')),
        td('Health', {}, r.error
          ? h('span', { class: 'muted' }, r.error)
          : h('div', {}, rollup(inst, 'instances'), h('div', { class: 'muted' }, plural((r.services || []).length, 'service')))));
    }))));
}

function drawRTT(el, list, rows, coords, localDC) {
  if (list.length < 2) {
    replace(el, empty(`This agent knows one datacenter (${list[0]}).`,
      'Other datacenters appear here once their servers join the WAN pool; round-trip times need at least two.'));
    return;
  }
  if (coords.error || coords.status === 404 || !Array.isArray(coords.data)) {
    const why = coords.error ? coords.error.message : 'the agent does not serve /v1/coordinate/datacenters yet';
    replace(el, empty('No network coordinates yet, so no round-trip times.', `Reason: ${why}.`));
    return;
  }
  const dist = dcDistances(coords.data);
  const ms = (a, b) => {
    const v = dist.get(a)?.get(b);
    return v === undefined ? null : v * 1000;
  };
  const fmt = (v) => (v === null ? '—' : v < 10 ? `${v.toFixed(2)} ms` : `${v.toFixed(1)} ms`);
  const matrix = h('table', { class: 'list', 'data-rtt': true },
    h('caption', { class: 'visually-hidden' }, 'Estimated round-trip time between datacenters (median over server pairs)'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'From \\ to'), list.map((d) => h('th', { scope: 'col', class: 'num' }, d)))),
    h('tbody', {}, list.map((a) => h('tr', {},
      h('th', { scope: 'row' }, a),
      list.map((b) => td(b, { class: 'num', 'data-from': a, 'data-to': b }, a === b ? '—' : fmt(ms(a, b))))))));
  replace(el, matrix, picture(list, rows, ms, fmt, localDC));
}

// picture places datacenters on a circle, nearest first from this one,
// with an edge labelled by the estimated RTT between each pair.
function picture(list, rows, ms, fmt, localDC) {
  const W = 640, H = 360, cx = W / 2, cy = H / 2, R = list.length === 2 ? 200 : 130;
  const pos = new Map(list.map((d, i) => {
    const a = Math.PI + (2 * Math.PI * i) / list.length;
    return [d, [cx + R * Math.cos(a), cy + R * Math.sin(a) * (list.length === 2 ? 0 : 1)]];
  }));
  const out = svg('svg', { class: 'fed-picture', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'Datacenters and the estimated round-trip times between them' });
  list.forEach((a, i) => list.slice(i + 1).forEach((b) => {
    const [x1, y1] = pos.get(a), [x2, y2] = pos.get(b);
    out.append(svg('line', { class: 'edge', x1, y1, x2, y2, 'stroke-width': 2 }));
    out.append(svg('text', { class: 'edge-label', x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 6, 'text-anchor': 'middle' }, fmt(ms(a, b))));
  }));
  for (const d of list) {
    const [x, y] = pos.get(d);
    const row = rows.find((r) => r.dc === d);
    const cls = [d === localDC ? 'local' : '', row && (row.error || !row.leader) ? 'unhealthy' : ''].join(' ').trim();
    out.append(svg('circle', { cx: x, cy: y, r: 26, class: cls }));
    out.append(svg('text', { x, y: y + 46, 'text-anchor': 'middle' }, d));
  }
  return out;
}

function plural(n, noun) {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
