// Services of a datacenter with a health roll-up per service, filtered by
// name and tag. One blocking query on /v1/internal/ui/services.
import { watch } from '../api.js';
import { h, replace, empty, banner, td, tags } from '../dom.js';
import { href, navigate } from '../router.js';
import { rollup } from '../health.js';

export async function render(ctx) {
  const { main, dc, query, signal } = ctx;
  const nameInput = h('input', { type: 'search', value: query.get('name') || '', 'data-filter': true, placeholder: 'part of a name', 'aria-describedby': 'filter-hint' });
  const tagSelect = h('select', {}, h('option', { value: '' }, 'any tag'));
  const status = h('p', { class: 'muted', 'aria-live': 'polite' });
  const errors = h('div', {});
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading services…'));
  replace(main,
    h('div', { class: 'title-row' }, h('h1', {}, 'Services'), status),
    h('form', { class: 'toolbar', role: 'search', onsubmit: (e) => e.preventDefault() },
      h('label', {}, 'Name', nameInput),
      h('label', {}, 'Tag', tagSelect),
      h('span', { id: 'filter-hint', class: 'visually-hidden' }, 'Press / to jump here.')),
    errors, body);

  let services = null;
  let wantTag = query.get('tag') || '';

  function syncURL() {
    const to = href(dc, 'services', '', { name: nameInput.value.trim(), tag: tagSelect.value });
    if (to !== location.hash) history.replaceState(null, '', to);
  }

  function draw() {
    if (!services) return;
    const name = nameInput.value.trim().toLowerCase();
    const tag = tagSelect.value;
    const shown = services.filter((s) => (!name || s.Name.toLowerCase().includes(name)) && (!tag || s.Tags.includes(tag)));
    status.textContent = shown.length === services.length
      ? `${services.length} service${services.length === 1 ? '' : 's'} in ${dc}`
      : `${shown.length} of ${services.length} services`;
    if (services.length === 0) {
      replace(body, empty(`No services are registered in ${dc}.`, 'Register one with the agent API (PUT /v1/agent/service/register), a service definition file, or meridian services register.'));
      return;
    }
    if (shown.length === 0) {
      replace(body, empty('No service matches the filter.', 'Clear the name or tag filter to see every service.'));
      return;
    }
    const rows = document.createDocumentFragment();
    for (const s of shown) {
      rows.append(h('tr', { 'data-service': s.Name },
        td('Service', {}, h('a', { href: href(dc, 'services', s.Name) }, s.Name)),
        td('Health', {}, rollup({ passing: s.InstancesPassing, warning: s.InstancesWarning, critical: s.InstancesCritical }, 'instances')),
        td('Instances', { class: 'num' }, String(s.InstanceCount)),
        td('Nodes', { class: 'num' }, String(s.Nodes.length)),
        td('Tags', {}, tags(s.Tags))));
    }
    replace(body, h('table', { class: 'list' },
      h('caption', { class: 'visually-hidden' }, `Services in ${dc}; health counts instances by their worst check`),
      h('thead', {}, h('tr', {}, ['Service', 'Instance health', 'Instances', 'Nodes', 'Tags'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows)));
  }

  function drawTags() {
    const all = [...new Set(services.flatMap((s) => s.Tags))].sort();
    const keep = tagSelect.value || wantTag;
    replace(tagSelect, h('option', { value: '' }, 'any tag'), all.map((t) => h('option', { value: t }, t)));
    if (keep && !all.includes(keep)) tagSelect.append(h('option', { value: keep }, `${keep} (none now)`));
    tagSelect.value = keep;
    wantTag = '';
  }

  nameInput.addEventListener('input', () => { draw(); syncURL(); });
  tagSelect.addEventListener('change', () => { draw(); syncURL(); });
  // Enter on a filtered list opens the only match.
  nameInput.addEventListener('keydown', (ev) => {
    const links = body.querySelectorAll('tbody a');
    if (ev.key === 'Enter' && links.length === 1) navigate(links[0].getAttribute('href'));
  });

  watch('/v1/internal/ui/services', { dc, signal }, (data) => {
    services = data || [];
    replace(errors);
    drawTags();
    draw();
  }, (err) => {
    replace(errors, banner('error', err.message, services ? ' Showing the last known list; retrying.' : ' Retrying.'));
    if (!services) replace(body);
  });
}
