// Parallel coordinates for a sweep (pure): one axis per parameter plus the metric, each
// trial a line through its values scaled to [0, 1] per axis.

/** Nested parameters as dotted names ({opt: {lr: 1}} -> {"opt.lr": 1}). */
export function flatten(params, prefix = "") {
  const out = {};
  for (const [key, value] of Object.entries(params || {})) {
    const name = prefix + key;
    if (value && typeof value === "object" && !Array.isArray(value)) Object.assign(out, flatten(value, `${name}.`));
    else out[name] = value;
  }
  return out;
}

const isNumber = (v) => typeof v === "number" && Number.isFinite(v);

/** How an axis maps its values to [0, 1]: linear, log (wide positive ranges) or by category. */
export function axisScale(values) {
  const present = values.filter((v) => v !== undefined && v !== null);
  if (present.length && present.every(isNumber)) {
    const lo = Math.min(...present), hi = Math.max(...present);
    const log = lo > 0 && hi / lo >= 100;
    const f = log ? Math.log10 : (x) => x;
    const a = f(lo), b = f(hi);
    return { kind: log ? "log" : "linear", lo, hi, at: (v) => (isNumber(v) ? (b > a ? (f(v) - a) / (b - a) : 0.5) : null) };
  }
  const levels = [...new Set(present.map((v) => JSON.stringify(v)))].sort();
  return {
    kind: "category", levels,
    at: (v) => (v === undefined || v === null ? null : levels.length > 1 ? levels.indexOf(JSON.stringify(v)) / (levels.length - 1) : 0.5),
  };
}

/** Axes (parameter names, then the metric) and one [0, 1] line per trial that has values. */
export function parallelData(trials, metric) {
  const flat = trials.map((t) => flatten(t.params));
  const names = [...new Set(flat.flatMap((p) => Object.keys(p)))].sort();
  const axes = metric ? [...names, metric] : names;
  const columns = axes.map((name, i) => (metric && i === names.length ? trials.map((t) => t.metric) : flat.map((p) => p[name])));
  const scales = columns.map(axisScale);
  const lines = trials.map((t, row) => ({
    run: t.run, name: t.name ?? t.run, state: t.state, metric: t.metric,
    ys: scales.map((s, col) => s.at(columns[col][row])),
  }));
  return { axes, scales, lines };
}

/** A color from good (blue) to bad (red) by the metric's rank; grey without a value. */
export function metricColor(value, values, goal) {
  const known = values.filter(isNumber);
  if (!isNumber(value) || known.length < 2) return "#999999";
  const lo = Math.min(...known), hi = Math.max(...known);
  let t = hi > lo ? (value - lo) / (hi - lo) : 0.5;
  if (goal === "maximize") t = 1 - t;
  const r = Math.round(40 + 200 * t), b = Math.round(220 - 180 * t);
  return `rgb(${r}, 90, ${b})`;
}
