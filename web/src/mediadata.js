// Pure helpers for the media panels: which logged step to show, histogram heatmaps, tables.

/** Sorted distinct steps over every run's entries `{run: [{step, ...}]}`. */
export function unionSteps(byRun) {
  return [...new Set(Object.values(byRun).flatMap((entries) => entries.map((e) => e.step)))]
    .sort((a, b) => a - b);
}

/**
 * Where a step slider over `steps` (sorted) starts: at `chosen` (the step the user picked,
 * or the last one before it when it is gone), else at the newest step.
 */
export function sliderIndex(steps, chosen) {
  const last = Math.max(0, steps.length - 1);
  if (chosen === null || chosen === undefined) return last;
  let index = 0;
  steps.forEach((s, i) => { if (s <= chosen) index = i; });
  return index;
}

/** A media length in words: "0:03.5" under a minute, "2:05" under an hour, "1:02:03" past it. */
export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  const tenths = Math.round(seconds * 10); // whole tenths: no float residue in the display
  const whole = Math.floor(tenths / 10);
  const h = Math.floor(whole / 3600), m = Math.floor((whole % 3600) / 60), s = whole % 60;
  const ss = String(s).padStart(2, "0");
  if (h) return `${h}:${String(m).padStart(2, "0")}:${ss}`;
  if (m) return `${m}:${ss}`;
  return `0:${ss}.${tenths % 10}`;
}

/** The entry logged at the last step at or before `step` (entries sorted by step), or null. */
export function entryAt(entries, step) {
  let found = null;
  for (const e of entries || []) {
    if (e.step <= step) found = e; else break;
  }
  return found;
}

/**
 * A heatmap of histograms over time: one column per logged step, `rows` bins over the
 * range every step spans; each column's counts are re-binned onto those rows by bin centre.
 * Returns {steps, lo, hi, rows, cells (cells[col][row] = count), max}.
 */
export function heatmapGrid(entries, rows = 32) {
  const hists = (entries || []).filter((e) => Array.isArray(e.bins) && Array.isArray(e.values));
  let lo = Infinity, hi = -Infinity;
  for (const h of hists) {
    lo = Math.min(lo, h.bins[0]);
    hi = Math.max(hi, h.bins[h.bins.length - 1]);
  }
  if (!hists.length || !Number.isFinite(lo)) return { steps: [], lo: 0, hi: 0, rows, cells: [], max: 0 };
  const span = hi - lo || 1;
  let max = 0;
  const cells = hists.map((h) => {
    const col = new Array(rows).fill(0);
    h.values.forEach((count, i) => {
      const centre = (h.bins[i] + h.bins[i + 1]) / 2;
      const r = Math.min(rows - 1, Math.max(0, Math.floor(((centre - lo) / span) * rows)));
      col[r] += Number(count) || 0;
    });
    max = Math.max(max, ...col);
    return col;
  });
  return { steps: hists.map((h) => h.step), lo, hi, rows, cells, max };
}

/** Compare two table cells: numbers numerically, the rest as text; empty cells last. */
export function compareCells(a, b) {
  const empty = (v) => v === null || v === undefined || v === "";
  if (empty(a) || empty(b)) return empty(a) - empty(b);
  const x = Number(a), y = Number(b);
  if (typeof a !== "object" && typeof b !== "object" && !Number.isNaN(x) && !Number.isNaN(y)) return x - y;
  return String(cellText(a)).localeCompare(String(cellText(b)));
}

/** A table cell as text (media cells by their type, objects as JSON). */
export function cellText(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "object") return v._type ? `[${v._type}]` : JSON.stringify(v);
  return String(v);
}

/** Rows sorted by column `col` (ascending or not), stable; rows whose text contains `filter`. */
export function tableView(rows, col, ascending, filter) {
  const needle = (filter || "").toLowerCase();
  const kept = needle ? rows.filter((r) => r.some((c) => cellText(c).toLowerCase().includes(needle))) : rows.slice();
  if (col == null || col < 0) return kept;
  const indexed = kept.map((r, i) => [r, i]);
  indexed.sort((p, q) => (ascending ? 1 : -1) * compareCells(p[0][col], q[0][col]) || p[1] - q[1]);
  return indexed.map(([r]) => r);
}
