// Round-trip time estimates from Vivaldi network coordinates, as serf's
// coordinate package computes them.

// distance is the estimated RTT in seconds between two coordinates.
export function distance(a, b) {
  let sum = 0;
  const n = Math.min(a.Vec.length, b.Vec.length);
  for (let i = 0; i < n; i++) sum += (a.Vec[i] - b.Vec[i]) ** 2;
  const rtt = Math.sqrt(sum) + a.Height + b.Height;
  const adjusted = rtt + a.Adjustment + b.Adjustment;
  return adjusted > 0 ? adjusted : rtt;
}

// dcDistances maps dc -> dc -> median RTT (seconds) over every pair of
// their servers, from /v1/coordinate/datacenters.
export function dcDistances(areas) {
  const byDC = new Map();
  for (const area of areas || []) {
    const list = byDC.get(area.Datacenter) || [];
    for (const c of area.Coordinates || []) if (c.Coord && Array.isArray(c.Coord.Vec)) list.push(c.Coord);
    byDC.set(area.Datacenter, list);
  }
  const out = new Map();
  for (const [a, ca] of byDC) {
    const row = new Map();
    for (const [b, cb] of byDC) {
      if (a === b || !ca.length || !cb.length) continue;
      const all = [];
      for (const x of ca) for (const y of cb) all.push(distance(x, y));
      all.sort((p, q) => p - q);
      const mid = Math.floor(all.length / 2);
      row.set(b, all.length % 2 ? all[mid] : (all[mid - 1] + all[mid]) / 2);
    }
    out.set(a, row);
  }
  return out;
}
