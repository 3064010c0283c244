// Nodes of a datacenter with gossip status and health. One blocking query
// on /v1/internal/ui/nodes; in this agent's own datacenter each answer is
// joined with /v1/agent/members (gossip as this agent sees it), elsewhere
// gossip status comes from the serfHealth check the servers keep.
import { watch, request } from '../api.js';
import { h, replace, empty, banner, td } from '../dom.js';
import { href } from '../router.js';
import { badge, counts, rollup, MEMBER_STATUS } from '../health.js';

export async function render(ctx) {
  const { main, dc, localDC, query, signal } = ctx;
  const nameInput = h('input', { type: 'search', value: query.get('name') || '', 'data-filter': true, placeholder: 'part of a name or address' });
  const status = h('p', { class: 'muted', 'aria-live': 'polite' });
  const errors = h('div', {});
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading nodes…'));
  replace(main,
    h('div', { class: 'title-row' }, h('h1', {}, 'Nodes'), status),
    h('form', { class: 'toolbar', role: 'search', onsubmit: (e) => e.preventDefault() }, h('label', {}, 'Filter', nameInput)),
    errors, body);

  let nodes = null;
  let members = new Map();

  function gossip(n) {
    const m = members.get(n.Node);
    if (m) return MEMBER_STATUS[m.Status] || 'unknown';
    const serf = n.Checks.find((c) => c.CheckID === 'serfHealth');
    if (!serf) return 'external'; // registered through the catalog, not an agent
    return serf.Status === 'passing' ? 'alive' : 'failed';
  }

  function draw() {
    if (!nodes) return;
    const f = nameInput.value.trim().toLowerCase();
    const shown = nodes.filter((n) => !f || n.Node.toLowerCase().includes(f) || n.Address.includes(f));
    status.textContent = `${nodes.length} node${nodes.length === 1 ? '' : 's'} in ${dc}`;
    if (nodes.length === 0) { replace(body, empty(`No nodes in ${dc}.`, 'Agents appear here once they join the datacenter.')); return; }
    if (shown.length === 0) { replace(body, empty('No node matches the filter.')); return; }
    replace(body, h('table', { class: 'list' },
      h('thead', {}, h('tr', {}, ['Node', 'Address', 'Gossip', 'Checks', 'Services'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, shown.map((n) => h('tr', { 'data-node': n.Node },
        td('Node', {}, h('a', { href: href(dc, 'nodes', n.Node) }, n.Node)),
        td('Address', { class: 'mono' }, n.Address),
        td('Gossip', {}, badge(gossip(n))),
        td('Checks', {}, rollup(counts(n.Checks))),
        td('Services', { class: 'num' }, String(n.Services.length)))))));
  }

  nameInput.addEventListener('input', draw);

  watch('/v1/internal/ui/nodes', { dc, signal }, async (data) => {
    nodes = data || [];
    if (dc === localDC) {
      try {
        const { data: list } = await request('/v1/agent/members', { signal });
        members = new Map((list || []).map((m) => [m.Name, m]));
      } catch { members = new Map(); }
    }
    replace(errors);
    draw();
  }, (err) => {
    replace(errors, banner('error', err.message, nodes ? ' Showing the last known list; retrying.' : ' Retrying.'));
  });
}
