// Workspace and run-page charts: one uPlot chart per metric, sections by prefix, live via long poll.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import {
  align, countInRange, ema, groupStats, pairByStep, spliceWindow, stepToTime, yAxisSize,
} from "./chartdata.js";
import { filterConsole, tailConsole } from "./console.js";
import { matchesFilter, parseFilter, sortRuns } from "./runfilter.js";
import { drawSystem } from "./system.js";

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf"];
const HIDDEN_KEYS = new Set(["_step", "_runtime", "_timestamp"]);
const el = (id) => document.getElementById(id);
const data = JSON.parse(el("ws-data").textContent);
const runs = new Map(); // id -> {id, name, color, visible, config, group, lines, series: {key: buckets}}
const charts = new Map(); // metric -> uPlot
const metrics = new Set((data.metrics || []).filter((k) => !HIDDEN_KEYS.has(k)));
const drawn = new Set(); // metrics whose panel has scrolled into view
const zooms = new Map(); // metric -> {min, max, series: {runId: finer buckets of [min, max]}}
let firstPaint = false;

function colorOf(i) { return PALETTE[i % PALETTE.length]; }

function addRun(r) {
  if (runs.has(r.id)) return Object.assign(runs.get(r.id), r);
  const run = { ...r, color: colorOf(runs.size), visible: true, series: {} };
  runs.set(r.id, run);
  return run;
}

/** The metric chosen as the x axis (option value `metric:<key>`), or null for step/time. */
function xMetric() {
  const mode = el("x-axis").value;
  return mode.startsWith("metric:") ? mode.slice("metric:".length) : null;
}

function syncXOptions() {
  // Every logged numeric metric can be the x axis (W&B's "x axis: epoch / train/tokens").
  const select = el("x-axis");
  let group = select.querySelector("optgroup");
  if (!group) {
    group = document.createElement("optgroup");
    group.label = "Logged metric";
    select.append(group);
  }
  const have = new Set([...group.children].map((o) => o.value));
  for (const k of [...metrics].sort()) {
    if (!have.has(`metric:${k}`)) group.append(new Option(k, `metric:${k}`));
  }
}

async function ensureLoaded(key) {
  // One request per panel: this metric (and the x metric or step->time map when needed).
  const mode = el("x-axis").value;
  const keys = mode === "step" ? [key] : [key, xMetric() ?? "_timestamp"];
  const missing = [...runs.values()].filter((r) => keys.some((k) => !(k in r.series)));
  if (!missing.length) return;
  const query = new URLSearchParams({ runs: missing.map((r) => r.id).join(","), buckets: "500" });
  keys.forEach((k) => query.append("key", k));
  const resp = await fetch(`/ui/api/projects/${data.entity}/${data.project}/metric?${query}`,
    { credentials: "same-origin" });
  if (!resp.ok) return;
  const body = await resp.json();
  for (const [id, series] of Object.entries(body)) Object.assign(runs.get(id).series, series);
}

let parsedFilter = { text: "", conditions: [], error: null };

function filterConditions() {
  // Parsed once per edit, not once per run; a bad filter keeps every run and says why.
  const box = el("run-filter");
  const text = box ? box.value : "";
  if (text !== parsedFilter.text) parsedFilter = { text, ...parseFilter(text) };
  return parsedFilter.conditions;
}

function matchesSearch(run) {
  if (!matchesFilter(run, filterConditions())) return false;
  const box = el("run-search");
  if (!box || !box.value) return true;
  try { return new RegExp(box.value, "i").test(run.name) || new RegExp(box.value, "i").test(run.id); }
  catch { return true; }
}

function sortedRuns() {
  const field = el("sort-by") ? el("sort-by").value : "created";
  const descending = el("sort-descending") ? el("sort-descending").checked : false;
  return sortRuns([...runs.values()], field, descending);
}

function syncFieldOptions() {
  // Group-by offers config keys; sort-by offers config and summary keys, as runs report them.
  const config = new Set(), summary = new Set();
  for (const r of runs.values()) {
    Object.keys(r.config || {}).forEach((k) => config.add(k));
    Object.keys(r.summary || {}).forEach((k) => summary.add(k));
  }
  const add = (select, value, label) => {
    if (select && ![...select.options].some((o) => o.value === value)) select.add(new Option(label, value));
  };
  for (const k of [...config].sort()) add(el("group-by"), k, k);
  for (const k of [...config].sort()) add(el("sort-by"), `config.${k}`, `config.${k}`);
  for (const k of [...summary].sort()) add(el("sort-by"), `summary_metrics.${k}`, `summary_metrics.${k}`);
}

function showFilterError() {
  const box = el("run-filter"), message = el("filter-error");
  if (!box || !message) return;
  filterConditions();
  message.textContent = parsedFilter.error || "";
  box.setAttribute("aria-invalid", String(Boolean(parsedFilter.error)));
}

function shownRuns() { return [...runs.values()].filter((r) => r.visible && matchesSearch(r)); }

function renderSidebar() {
  const list = el("run-list");
  if (!list) return;
  list.replaceChildren();
  showFilterError();
  for (const run of sortedRuns()) {
    if (!matchesSearch(run)) continue;
    const li = document.createElement("li");
    const eye = document.createElement("button");
    eye.type = "button";
    eye.className = "eye";
    eye.setAttribute("aria-pressed", String(run.visible));
    eye.setAttribute("aria-label", `Show ${run.name} in charts`);
    eye.title = run.visible ? "Hide this run's lines" : "Show this run's lines";
    eye.textContent = run.visible ? "Hide" : "Show";
    eye.onclick = () => { run.visible = !run.visible; renderSidebar(); redrawAll(); };
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = run.color;
    const link = document.createElement("a");
    link.href = `/${data.entity}/${data.project}/runs/${run.id}`;
    link.textContent = `${run.name} (${run.state})`;
    li.dataset.run = run.id;
    li.append(eye, swatch, link);
    list.append(li);
  }
  const visible = [...runs.values()].filter((r) => r.visible && matchesSearch(r)).length;
  el("visible-count").textContent = `${visible} of ${runs.size} visualized`;
  syncFieldOptions();
}

function xValues(run, buckets) {
  const steps = buckets.map((b) => b.x_max);
  const mode = el("x-axis").value;
  if (mode === "step") return steps;
  return stepToTime(steps, run.series._timestamp, mode === "relative");
}

function lineFor(run, key) {
  const zoom = zooms.get(key);
  const buckets = zoom ? spliceWindow(run.series[key], zoom.series[run.id], zoom.min, zoom.max)
    : run.series[key];
  if (!buckets || !buckets.length) return null;
  const alpha = Number(el("smoothing").value);
  const by = xMetric();
  if (by) {
    const [xs, ys] = pairByStep(buckets, run.series[by]);
    return [xs, ema(ys, alpha)];
  }
  return [xValues(run, buckets), ema(buckets.map((b) => b.last), alpha)];
}

function seriesFor(key) {
  const groupKey = el("group-by") ? el("group-by").value : "";
  const visible = shownRuns().filter((r) => r.series[key] && r.series[key].length);
  if (!groupKey) {
    const lines = visible.map((r) => lineFor(r, key));
    const [xs, ys] = align(lines);
    // Against a logged metric the runs' x values rarely coincide: join each run's own points.
    const spanGaps = xMetric() !== null;
    const specs = visible.map((r) => ({ label: r.name, stroke: r.color, width: 1.5, spanGaps }));
    return { xs, ys, specs, bands: [] };
  }
  const groups = new Map();
  for (const r of visible) {
    const g = String(r.config[groupKey] ?? "(none)");
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(lineFor(r, key));
  }
  const [xs, all] = align([...groups.values()].flat());
  const ys = [], specs = [], bands = [];
  let offset = 0, gi = 0;
  for (const [name, members] of groups) {
    const stats = groupStats(all.slice(offset, offset + members.length));
    offset += members.length;
    const color = colorOf(gi++);
    const at = ys.length + 1; // uPlot series index (0 is x)
    ys.push(stats.mean, stats.max, stats.min);
    specs.push({ label: `${groupKey}=${name} (mean of ${members.length})`, stroke: color, width: 2 },
      { label: `${groupKey}=${name} max`, stroke: color, width: 0, points: { show: false } },
      { label: `${groupKey}=${name} min`, stroke: color, width: 0, points: { show: false } });
    bands.push({ series: [at + 1, at + 2], fill: color + "33" });
  }
  return { xs, ys, specs, bands };
}

function layoutPanels() {
  // Empty figures in sections by prefix; each draws when it scrolls near the viewport.
  const panels = el("panels");
  syncXOptions();
  for (const chart of charts.values()) chart.destroy();
  charts.clear();
  drawn.clear();
  observer.disconnect();
  panels.replaceChildren();
  const sections = new Map();
  if (data.view) {
    // A saved view (`?nw=`): its sections and the metrics its panels plot, in its order.
    for (const s of data.view.sections) sections.set(s.name, s.metrics);
  } else {
    for (const key of [...metrics].sort()) {
      const name = key.includes("/") ? key.split("/")[0] : "charts";
      if (!sections.has(name)) sections.set(name, []);
      sections.get(name).push(key);
    }
  }
  for (const [name, keys] of sections) {
    const section = document.createElement("section");
    section.className = "panel-section";
    section.dataset.section = name;
    const h = document.createElement("h3");
    h.textContent = name;
    section.append(h);
    for (const key of keys) {
      const fig = document.createElement("figure");
      fig.className = "panel";
      fig.dataset.metric = key;
      fig.setAttribute("aria-label", `Chart of ${key}`);
      section.append(fig);
      observer.observe(fig);
    }
    panels.append(section);
  }
}

const observer = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (!entry.isIntersecting) continue;
    observer.unobserve(entry.target);
    const key = entry.target.dataset.metric;
    drawn.add(key);
    ensureLoaded(key).then(() => draw(key));
  }
}, { rootMargin: "400px" });

function draw(key) {
  const fig = document.querySelector(`figure[data-metric="${CSS.escape(key)}"]`);
  if (!fig) return;
  if (charts.has(key)) charts.get(key).destroy();
  const { xs, ys, specs, bands } = seriesFor(key);
  fig.dataset.lines = specs.filter((s) => s.width).map((s) => s.label).join("\n");
  fig.dataset.points = String(xs.length);
  fig.dataset.bands = String(bands.length);
  const width = Math.max(260, Math.min(520, el("panels").clientWidth - 20));
  const opts = {
    title: key, width, height: 220, series: [{}, ...specs], bands,
    axes: [{}, { size: (u, values) => yAxisSize(values) }],
    scales: { x: { time: el("x-axis").value === "wall" }, y: el("log-scale").checked ? { distr: 3 } : {} },
    hooks: { setScale: [(u, scale) => { if (scale === "x") onZoom(key, u); }] },
  };
  const chart = new uPlot(opts, [xs, ...ys], fig);
  charts.set(key, chart);
  const zoom = zooms.get(key);
  if (zoom) chart.setScale("x", { min: zoom.min, max: zoom.max }); // keep the zoom on redraw
  countVisible(key, chart);
  if (!firstPaint) {
    firstPaint = true;
    // Milliseconds since navigation began: benchmarks read it as time to first chart paint.
    document.body.dataset.chartsReady = String(Math.round(performance.now()));
  }
}

async function redrawAll() {
  await Promise.all([...drawn].map(async (key) => { await ensureLoaded(key); draw(key); }));
}

function countVisible(key, u) {
  // Points drawn inside the visible x range: a zoom that refetched shows more of them.
  const fig = document.querySelector(`figure[data-metric="${CSS.escape(key)}"]`);
  if (!fig || !u.data || !u.data[0]) return;
  fig.dataset.visiblePoints = String(countInRange(u.data[0], u.scales.x.min, u.scales.x.max));
  fig.dataset.xRange = `${u.scales.x.min}..${u.scales.x.max}`;
  const zoom = zooms.get(key);
  if (zoom) fig.dataset.zoomed = `${zoom.min}..${zoom.max}`; else delete fig.dataset.zoomed;
}

function fullRange(key) {
  // The x extent of the whole-run buckets of the shown runs (lines are drawn at x_max).
  const all = shownRuns().map((r) => r.series[key]).filter((b) => b && b.length);
  return [Math.min(...all.map((b) => b[0].x_max)), Math.max(...all.map((b) => b[b.length - 1].x_max))];
}

async function onZoom(key, u) {
  // Zoom (drag to select) narrows the x scale; refetch that window's finer buckets (step axis only).
  countVisible(key, u);
  if (el("x-axis").value !== "step") return;
  const [lo, hi] = fullRange(key);
  const min = Math.floor(u.scales.x.min), max = Math.ceil(u.scales.x.max);
  const shown = shownRuns().filter((r) => r.series[key] && r.series[key].length);
  if (min <= lo && max >= hi) { // zoomed back out: the whole-run buckets again
    if (zooms.delete(key)) refresh(key, u);
    return;
  }
  const zoom = zooms.get(key);
  if (zoom && zoom.min === min && zoom.max === max && shown.every((r) => r.id in zoom.series)) return;
  const query = new URLSearchParams({ runs: shown.map((r) => r.id).join(","), buckets: "500",
    step_min: String(min), step_max: String(max) });
  query.append("key", key);
  const token = {};
  u.zoomToken = token;
  const resp = await fetch(`/ui/api/projects/${data.entity}/${data.project}/metric?${query}`,
    { credentials: "same-origin" });
  if (!resp.ok || u.zoomToken !== token || charts.get(key) !== u) return; // stale or redrawn
  const body = await resp.json();
  const series = {};
  for (const [id, perKey] of Object.entries(body)) series[id] = perKey[key] || [];
  zooms.set(key, { min, max, series });
  refresh(key, u);
}

function refresh(key, u) {
  // New data, same zoom: setData without rescaling, then setScale to re-fit y and redraw.
  const { xs, ys } = seriesFor(key);
  const { min, max } = u.scales.x;
  u.setData([xs, ...ys], false);
  u.setScale("x", { min, max });
  const fig = document.querySelector(`figure[data-metric="${CSS.escape(key)}"]`);
  if (fig) fig.dataset.points = String(xs.length);
  countVisible(key, u);
}

async function poll(cursor) {
  // Long poll: the server answers as soon as a run of this project changes (or after 20 s).
  for (;;) {
    try {
      const resp = await fetch(`/ui/api/projects/${data.entity}/${data.project}/changes?since=${encodeURIComponent(cursor)}`,
        { credentials: "same-origin" });
      if (!resp.ok) { await new Promise((r) => setTimeout(r, 5000)); continue; }
      const body = await resp.json();
      cursor = body.cursor;
      const changed = body.runs.filter((r) => !data.single || runs.has(r.id));
      if (!changed.length) continue;
      for (const r of changed) {
        addRun(r).series = {}; // refetch its buckets on the next draw (and its zoomed windows)
        for (const zoom of zooms.values()) delete zoom.series[r.id];
      }
      if (data.single) { refreshSystem(); await refreshConsole(); }
      const before = metrics.size;
      (body.metrics || []).forEach((k) => { if (!HIDDEN_KEYS.has(k)) metrics.add(k); });
      renderSidebar();
      if (metrics.size !== before) layoutPanels(); else await redrawAll();
    } catch { await new Promise((r) => setTimeout(r, 5000)); }
  }
}

function refreshSystem() {
  // The run page's system metrics section (absent on the workspace).
  const box = el("system-panels");
  if (box) drawSystem(box, data.entity, data.project, data.runs[0].id);
}

let consoleNext = data.console_next || 0;

async function refreshConsole() {
  // The run page's console tail: lines from the last shown one on (it may have been rewritten).
  const pre = el("console");
  if (!pre) return;
  const url = `/ui/api/runs/${data.entity}/${data.project}/${data.runs[0].id}/console`;
  consoleNext = await tailConsole(pre, url, consoleNext, el("console-search").value);
}

function main() {
  data.runs.forEach(addRun);
  renderSidebar();
  layoutPanels();
  refreshSystem();
  for (const id of ["run-search", "run-filter", "sort-by", "sort-descending", "group-by", "x-axis",
    "smoothing", "log-scale"]) {
    const control = el(id);
    if (control) control.addEventListener("input", () => {
      if (id === "x-axis") zooms.clear(); // zoom windows are ranges of steps
      renderSidebar();
      redrawAll();
    });
  }
  const consoleSearch = el("console-search");
  if (consoleSearch) consoleSearch.addEventListener("input", () => filterConsole(el("console"), consoleSearch.value));
  poll(data.cursor);
}

main();
