// The agent's HTTP API: requests with the token, errors in plain words,
// and blocking-query watches (one request in flight per watch).

const TOKEN_KEY = 'meridian.token';

export function token() {
  try { return localStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

export function setToken(value) {
  try {
    if (value) localStorage.setItem(TOKEN_KEY, value);
    else localStorage.removeItem(TOKEN_KEY);
  } catch { /* storage off: the token lasts for this page only */ }
}

// APIError carries a sentence meant for people and the HTTP status (0 when
// the agent could not be reached).
export class APIError extends Error {
  constructor(message, status, detail) {
    super(message);
    this.status = status;
    this.detail = detail || '';
  }
}

function describe(status, text, dc) {
  const detail = (text || '').trim();
  const lower = detail.toLowerCase();
  if (status === 403) {
    return 'Permission denied. The token in Settings (or the lack of one) does not allow this.';
  }
  if (lower.includes('no path to datacenter') || lower.includes('no path to dc')) {
    return `Datacenter ${dc || ''} cannot be reached from this agent right now.`;
  }
  if (lower.includes('no leader') || lower.includes('no cluster leader')) {
    return `Datacenter ${dc || ''} has no leader at the moment, so it cannot answer. It usually recovers within seconds.`;
  }
  if (status === 400) return `The agent refused the request: ${detail}`;
  if (status === 404) return `Not found: ${detail || 'the agent does not know this path'}`;
  if (status >= 500) return `The agent failed to answer: ${detail || `HTTP ${status}`}`;
  return `Unexpected answer from the agent (HTTP ${status}): ${detail}`;
}

// request calls the API. params values of true become bare flags
// (?keys). A 404 resolves with data null when opts.notFoundOK is set.
export async function request(path, opts = {}) {
  const { method = 'GET', params = {}, body, signal, dc, notFoundOK = false } = opts;
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === false) continue;
    url.searchParams.set(k, v === true ? '' : String(v));
  }
  if (dc) url.searchParams.set('dc', dc);
  const headers = {};
  const t = token();
  if (t) headers['X-Consul-Token'] = t;
  let resp;
  try {
    resp = await fetch(url.pathname + url.search.replace(/=(?=&|$)/g, ''), { method, headers, body, signal, cache: 'no-store' });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new APIError('The agent cannot be reached. Check that it is running and that this page comes from it.', 0);
  }
  const text = await resp.text();
  const index = Number(resp.headers.get('X-Consul-Index') || 0);
  if (resp.status === 404 && notFoundOK) return { data: null, index, status: 404 };
  if (!resp.ok) throw new APIError(describe(resp.status, text, dc), resp.status, text);
  let data = text;
  if ((resp.headers.get('Content-Type') || '').includes('application/json')) {
    data = text ? JSON.parse(text) : null;
  }
  return { data, index, status: resp.status };
}

// sleep waits ms or until signal aborts.
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

// liveListeners hear the state of every watch: live or error.
const liveListeners = new Set();
export function onLiveState(fn) { liveListeners.add(fn); }
function setLive(state, message) { for (const fn of liveListeners) fn(state, message); }

// watch runs a blocking query until signal aborts: it calls onData with
// each new result, then asks again with ?index= so the agent answers
// only when something changed (or after wait). At most one request is in
// flight. Errors go to onError and are retried with growing back-off.
// With always, onData also runs when wait ran out with nothing new.
export function watch(path, opts, onData, onError) {
  const { params = {}, dc, signal, wait = '5m', notFoundOK = false, always = false } = opts;
  // deliver hands a result to the view; a view that fails to draw it
  // reports why and the watch goes on.
  const deliver = async (r, recovered) => {
    try {
      await onData(r.data, r, recovered);
    } catch (err) {
      if (!signal.aborted) onError(new APIError(`The page failed to show the answer: ${err.message}`, -1));
    }
  };
  (async () => {
    let index = 0;
    let failures = 0;
    while (!signal.aborted) {
      const p = { ...params };
      if (index > 0) { p.index = index; p.wait = wait; }
      let r;
      try {
        r = await request(path, { params: p, dc, signal, notFoundOK });
      } catch (err) {
        if (signal.aborted) return;
        failures++;
        setLive('error', err.message);
        onError(err);
        await sleep(Math.min(30000, 1000 * 2 ** Math.min(failures - 1, 5)), signal);
        continue;
      }
      if (signal.aborted) return;
      const recovered = failures > 0;
      failures = 0;
      setLive('live');
      if (r.index === 0) {
        // No index to block on: show it and ask again later, not at once.
        await deliver(r, recovered);
        await sleep(10000, signal);
        continue;
      }
      // An index that went backwards (a restored snapshot, another server)
      // restarts the watch, as Consul's guidance says.
      const fresh = r.index !== index || recovered;
      index = r.index < index ? 0 : r.index;
      // onData may return a promise; the next request waits for it.
      if (fresh || always) await deliver(r, recovered);
    }
  })();
}
