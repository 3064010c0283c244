// The console's shell: header (sections, datacenter switcher, live
// state), routing, and one view at a time in <main>.
import { request, onLiveState, APIError } from './api.js';
import { h, replace, banner } from './dom.js';
import { parse, href, navigate } from './router.js';
import * as services from './views/services.js';
import * as service from './views/service.js';
import * as nodes from './views/nodes.js';
import * as node from './views/node.js';
import * as kv from './views/kv.js';
import * as federation from './views/federation.js';
import * as settings from './views/settings.js';

const SECTIONS = [
  ['services', 'Services'],
  ['nodes', 'Nodes'],
  ['kv', 'Key/Value'],
  ['federation', 'Federation'],
  ['settings', 'Settings'],
];

// A view module exports render(ctx); detail pages are chosen by rest.
const VIEWS = {
  services: (r) => (r.rest ? service : services),
  nodes: (r) => (r.rest ? node : nodes),
  kv: () => kv,
  federation: () => federation,
  settings: () => settings,
};

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const dcSelect = document.getElementById('dc-select');
const live = document.getElementById('live');

let agent = null; // { dc, node }
let current = null; // AbortController of the shown view
let datacenters = [];

onLiveState((state, message) => {
  live.dataset.state = state;
  live.textContent = state === 'live' ? 'live' : 'reconnecting';
  live.title = message || 'Updates arrive as they happen (blocking queries).';
});

async function loadAgent() {
  const { data } = await request('/v1/agent/self');
  agent = { dc: data.Config.Datacenter, node: data.Config.NodeName };
}

async function loadDatacenters(selected) {
  try {
    const { data } = await request('/v1/catalog/datacenters');
    datacenters = Array.isArray(data) && data.length ? data : [agent.dc];
  } catch {
    datacenters = datacenters.length ? datacenters : [agent.dc];
  }
  const list = datacenters.includes(selected) ? datacenters : [...datacenters, selected];
  replace(dcSelect, list.map((dc) => h('option', { value: dc }, dc === agent.dc ? `${dc} (this agent)` : dc)));
  dcSelect.value = selected;
  dcSelect.closest('label').hidden = false;
}

function renderNav(route) {
  replace(nav, SECTIONS.map(([view, label]) => h('li', {},
    h('a', { href: href(route.dc, view), 'aria-current': route.view === view ? 'page' : false }, label))));
}

async function show() {
  const route = parse(location.hash);
  if (!route.dc || !VIEWS[route.view]) {
    navigate(href(route.dc || agent.dc, 'services'), { replace: true });
    return;
  }
  if (current) current.abort();
  current = new AbortController();
  const signal = current.signal;
  renderNav(route);
  loadDatacenters(route.dc);
  document.title = `${SECTIONS.find(([v]) => v === route.view)[1]} · ${route.dc} · Meridian`;
  replace(main, h('p', { class: 'muted' }, 'Loading…'));
  const view = VIEWS[route.view](route);
  try {
    await view.render({ main, dc: route.dc, localDC: agent.dc, rest: route.rest, query: route.query, signal, datacenters: () => datacenters });
  } catch (err) {
    if (signal.aborted) return;
    replace(main, banner('error', err instanceof APIError ? err.message : `The page failed: ${err.message}`));
  }
  const title = main.querySelector('h1');
  if (title && document.activeElement === document.body) {
    title.tabIndex = -1;
    title.focus({ preventScroll: true });
  }
}

dcSelect.addEventListener('change', () => {
  const route = parse(location.hash);
  navigate(href(dcSelect.value, route.view || 'services', route.rest));
});

// "/" jumps to the page's filter, as in many consoles.
document.addEventListener('keydown', (ev) => {
  if (ev.key !== '/' || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const tag = document.activeElement && document.activeElement.tagName;
  if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT') return;
  const filter = main.querySelector('[data-filter]');
  if (filter) { ev.preventDefault(); filter.focus(); }
});

async function start() {
  for (let attempt = 0; ; attempt++) {
    try {
      await loadAgent();
      break;
    } catch (err) {
      replace(main, banner('error', err.message, err.status === 403 ? ' Enter a token that allows it and save.' : ' Retrying…'));
      if (err.status === 403) {
        // Without a token the agent says nothing; offer the settings here.
        const box = h('div', {});
        main.append(box);
        await settings.render({ main: box, signal: new AbortController().signal, reloadOnSave: true });
        return;
      }
      await new Promise((r) => setTimeout(r, Math.min(30000, 1000 * 2 ** Math.min(attempt, 5))));
    }
  }
  window.addEventListener('hashchange', show);
  show();
}

start();
