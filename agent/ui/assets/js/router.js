// Routes live in the URL fragment so a link opens the same view in the
// same datacenter: #/<dc>/<view>/<rest>?<query>.

// parse splits a fragment into dc, view, rest (decoded path after the
// view) and query parameters.
export function parse(hash) {
  let frag = (hash || '').replace(/^#/, '');
  let query = new URLSearchParams();
  const q = frag.indexOf('?');
  if (q >= 0) {
    query = new URLSearchParams(frag.slice(q + 1));
    frag = frag.slice(0, q);
  }
  const parts = frag.split('/').slice(1); // leading "/"
  const dc = decodeURIComponent(parts[0] || '');
  const view = parts[1] || '';
  const rest = parts.slice(2).map(decodeURIComponent).join('/');
  return { dc, view, rest, query };
}

// href builds a fragment: rest segments are encoded one by one so a KV
// path keeps its slashes.
export function href(dc, view, rest = '', query = null) {
  let out = `#/${encodeURIComponent(dc)}/${view}`;
  if (rest) out += '/' + rest.split('/').map(encodeURIComponent).join('/');
  if (query) {
    const qs = new URLSearchParams(Object.entries(query).filter(([, v]) => v)).toString();
    if (qs) out += '?' + qs;
  }
  return out;
}

export function navigate(to, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', to);
  else location.hash = to;
  if (replace) window.dispatchEvent(new HashChangeEvent('hashchange'));
}
