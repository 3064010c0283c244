// Health statuses: order, badges and roll-ups.
import { h } from './dom.js';

const RANK = { passing: 0, warning: 1, critical: 2, maintenance: 2 };

export function rank(status) {
  return RANK[status] ?? 2;
}

// worst returns the worst status of checks, or passing for none.
export function worst(checks) {
  let w = 'passing';
  for (const c of checks || []) if (rank(c.Status) > rank(w)) w = c.Status === 'maintenance' ? 'critical' : c.Status;
  return w;
}

export function badge(status, text) {
  return h('span', { class: `badge ${status}`, 'data-status': status }, text || status);
}

// counts tallies checks by status.
export function counts(checks) {
  const out = { passing: 0, warning: 0, critical: 0 };
  for (const c of checks || []) out[rank(c.Status) === 0 ? 'passing' : rank(c.Status) === 1 ? 'warning' : 'critical']++;
  return out;
}

// rollup shows passing / warning / critical counts, skipping zeros
// except when all are zero.
export function rollup({ passing = 0, warning = 0, critical = 0 }, noun = '') {
  const parts = [];
  if (passing) parts.push(badge('passing', `${passing} passing`));
  if (warning) parts.push(badge('warning', `${warning} warning`));
  if (critical) parts.push(badge('critical', `${critical} critical`));
  if (!parts.length) parts.push(badge('none', `no ${noun || 'checks'}`));
  return h('span', { class: 'rollup' }, parts);
}

// Gossip member status numbers (serf) as words.
export const MEMBER_STATUS = { 0: 'none', 1: 'alive', 2: 'leaving', 3: 'left', 4: 'failed' };
