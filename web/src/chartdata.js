// Pure helpers for the charts: EMA smoothing, aligning runs on one x axis, group mean/min/max.

/** Exponential moving average with weight `alpha` in [0, 1); nulls pass through. */
export function ema(values, alpha) {
  if (!alpha) return values;
  let last = null;
  return values.map((v) => {
    if (v == null) return null;
    last = last == null ? v : alpha * last + (1 - alpha) * v;
    return last;
  });
}

/** Align several [xs, ys] series on the sorted union of their xs (missing points are null). */
export function align(series) {
  const xs = [...new Set(series.flatMap(([x]) => x))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const ys = series.map(([x, y]) => {
    const out = new Array(xs.length).fill(null);
    x.forEach((xv, i) => { out[index.get(xv)] = y[i]; });
    return out;
  });
  return [xs, ys];
}

/** Per x: mean, min and max over the non-null values of `ys` (arrays on a shared x). */
export function groupStats(ys) {
  const n = ys.length ? ys[0].length : 0;
  const mean = [], min = [], max = [];
  for (let i = 0; i < n; i++) {
    const vals = ys.map((y) => y[i]).filter((v) => v != null);
    if (!vals.length) { mean.push(null); min.push(null); max.push(null); continue; }
    mean.push(vals.reduce((a, b) => a + b, 0) / vals.length);
    min.push(Math.min(...vals));
    max.push(Math.max(...vals));
  }
  return { mean, min, max };
}

/** Map step values to time through the `_timestamp` buckets (nearest bucket at or before). */
export function stepToTime(steps, tsBuckets, relative) {
  if (!tsBuckets || !tsBuckets.length) return steps;
  const start = tsBuckets[0].min;
  return steps.map((s) => {
    let lo = 0, hi = tsBuckets.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (tsBuckets[mid].x_min <= s) lo = mid; else hi = mid - 1;
    }
    const t = tsBuckets[lo].last;
    return relative ? t - start : t;
  });
}

/**
 * A zoomed series: the finer `fine` buckets inside [min, max], the coarse ones outside,
 * so the chart still spans the whole run (double-click zooms back out).
 */
export function spliceWindow(coarse, fine, min, max) {
  if (!fine) return coarse;
  const before = coarse.filter((b) => b.x_max < min);
  const after = coarse.filter((b) => b.x_max > max);
  return [...before, ...fine.filter((b) => b.x_max >= min && b.x_max <= max), ...after];
}

/** How many of the sorted `xs` lie in [min, max]. */
export function countInRange(xs, min, max) {
  return xs.filter((x) => x >= min && x <= max).length;
}

/**
 * Pair a run's sampled `yBuckets` with its `xBuckets` of another metric, by step: each y bucket
 * (drawn at its last step, x_max) takes the last value of the x bucket covering that step, or of
 * the nearest x bucket before it (an x metric logged less often, e.g. `epoch`, carries forward).
 * Y buckets before the first x bucket have no x and are dropped. Returns [xs, ys] in step order.
 */
export function pairByStep(yBuckets, xBuckets) {
  const xs = [], ys = [];
  if (!xBuckets || !xBuckets.length) return [xs, ys];
  let j = 0;
  for (const b of yBuckets) {
    while (j + 1 < xBuckets.length && xBuckets[j + 1].x_min <= b.x_max) j++;
    if (xBuckets[j].x_min > b.x_max) continue;
    xs.push(xBuckets[j].last);
    ys.push(b.last);
  }
  return [xs, ys];
}

/**
 * Width in pixels of a y axis whose tick labels are `values` (uPlot's axis `size` callback):
 * uPlot's fixed 50 px cuts long labels such as "200,000" to "0,000".
 */
export function yAxisSize(values, charPx = 7, pad = 22) {
  if (!values || !values.length) return 50;
  const longest = Math.max(...values.map((v) => String(v ?? "").length));
  return Math.max(50, Math.ceil(longest * charPx + pad));
}
