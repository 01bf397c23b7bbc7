// Workspace and run-page charts: one uPlot chart per metric, sections by prefix, live via long poll.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./workspace.css";
import { runColor } from "./colors.js";
import { renderMediaPanel } from "./media.js";
import {
  addPanel, addableKeys, defaultLayout, layoutFromSavedView, panelMatches, removePanel,
  renameSection, toggleSection,
} from "./panels.js";
import { tooltipPlugin } from "./tooltip.js";
import { wireSavedViews } from "./workspaceviews.js";
import {
  align, countInRange, ema, groupStats, pairByStep, spliceWindow, stepToTime, yAxisSize,
} from "./chartdata.js";
import { filterConsole, tailConsole } from "./console.js";
import { matchesFilter, parseFilter, sortRuns } from "./runfilter.js";
import { drawSystem } from "./system.js";
import { createFetchPool, isAbort, onLeave } from "./fetchpool.js";

const HIDDEN_KEYS = new Set(["_step", "_runtime", "_timestamp"]);
const el = (id) => document.getElementById(id);
const data = JSON.parse(el("ws-data").textContent);
const runs = new Map(); // id -> {id, name, color, visible, config, group, lines, series: {key: buckets}}
const charts = new Map(); // metric -> uPlot
const metrics = new Set((data.metrics || []).filter((k) => !HIDDEN_KEYS.has(k)));
const drawn = new Set(); // metrics whose panel has scrolled into view
const zooms = new Map(); // metric -> {min, max, series: {runId: finer buckets of [min, max]}}
const mediaKinds = { ...(data.media || {}) }; // media key -> panel kind
let media = null; // {key: {kind, runs: {runId: [{step, ...}]}}}, fetched when a media panel shows
let layout = data.view ? layoutFromSavedView(data.view) : defaultLayout(metrics, mediaKinds);
let customLayout = Boolean(data.view); // a user edit or a saved view: new metrics no longer re-lay out
let firstPaint = false;
let listViews = () => {}; // lists the saved views; called once the first chart is drawn
// Metric and media reads: three at a time (with the long poll and the views list that leaves a
// connection free for the next page), all cancelled when the page is left (fetchpool.js).
const reads = createFetchPool(3);
let leaving = new AbortController(); // the long poll's; replaced if a leave turns out not to be one
const RETRY_AFTER_LEAVE_MS = 1000;
// The run page's Charts tab shows one run's charts as laid out by default: its layout is not
// kept anywhere, so it offers no edits (add/remove panels, rename sections; no saved views).
const editable = !data.single;

function addRun(r) {
  if (runs.has(r.id)) return Object.assign(runs.get(r.id), r);
  // The colour is the run id's, never its position: filters, sorting and new runs keep it.
  const run = { ...r, color: runColor(r.id), visible: !layout.hidden_runs.includes(r.id), series: {} };
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
  const body = await reads.getJson(`/ui/api/projects/${data.entity}/${data.project}/metric?${query}`);
  if (!body) return;
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
    eye.append(eyeIcon(run.visible));
    eye.onclick = () => {
      run.visible = !run.visible;
      layout = { ...layout, hidden_runs: [...runs.values()].filter((r) => !r.visible).map((r) => r.id) };
      renderSidebar();
      redrawAll();
    };
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
  let offset = 0;
  for (const [name, members] of groups) {
    const stats = groupStats(all.slice(offset, offset + members.length));
    offset += members.length;
    const color = runColor(`group:${groupKey}=${name}`);
    const at = ys.length + 1; // uPlot series index (0 is x)
    ys.push(stats.mean, stats.max, stats.min);
    specs.push({ label: `${groupKey}=${name} (mean of ${members.length})`, stroke: color, width: 2 },
      { label: `${groupKey}=${name} max`, stroke: color, width: 0, points: { show: false } },
      { label: `${groupKey}=${name} min`, stroke: color, width: 0, points: { show: false } });
    bands.push({ series: [at + 1, at + 2], fill: color + "33" });
  }
  return { xs, ys, specs, bands };
}

const SVG = "http://www.w3.org/2000/svg";

function eyeIcon(open) {
  // An eye (open: the run's lines show) or a struck-through eye, drawn inline (no icon font).
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "18");
  svg.setAttribute("height", "18");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", open ? "eye-open" : "eye-closed");
  const path = (d) => { const p = document.createElementNS(SVG, "path"); p.setAttribute("d", d); svg.append(p); };
  path("M1 12s4-7 11-7 11 7 11 7-4 7-11 7S1 12 1 12z");
  const pupil = document.createElementNS(SVG, "circle");
  pupil.setAttribute("cx", "12"); pupil.setAttribute("cy", "12"); pupil.setAttribute("r", "3");
  svg.append(pupil);
  if (!open) path("M3 3l18 18");
  return svg;
}

function button(text, label, onClick, className = "") {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  if (label) b.setAttribute("aria-label", label);
  if (className) b.className = className;
  b.addEventListener("click", onClick);
  return b;
}

function setLayout(next) {
  layout = next;
  customLayout = true;
  layoutPanels();
}

function sectionHeader(section, index) {
  // The section's name toggles it open/closed; Rename edits the name in place.
  const h = document.createElement("h3");
  const toggle = button("", null, () => setLayout(toggleSection(layout, index)), "section-toggle");
  toggle.setAttribute("aria-expanded", String(!section.collapsed));
  const chevron = document.createElement("span");
  chevron.setAttribute("aria-hidden", "true");
  chevron.textContent = section.collapsed ? "▸ " : "▾ ";
  const name = document.createElement("span");
  name.className = "section-name";
  name.textContent = section.name;
  toggle.append(chevron, name);
  const rename = button("Rename", `Rename section ${section.name}`, () => {
    const input = document.createElement("input");
    input.value = section.name;
    input.setAttribute("aria-label", `New name of section ${section.name}`);
    const commit = () => setLayout(renameSection(layout, index, input.value));
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") commit();
      if (e.key === "Escape") layoutPanels();
    });
    input.addEventListener("blur", commit);
    h.replaceChildren(input);
    input.focus();
    input.select();
  }, "section-rename");
  h.append(toggle);
  if (editable) h.append(rename);
  return h;
}

function addPanelControl(section, index) {
  // A select of every metric and media key not already in the section, and an Add button.
  const wrap = document.createElement("span");
  wrap.className = "add-panel";
  const select = document.createElement("select");
  select.setAttribute("aria-label", `Panel to add to ${section.name}`);
  const have = new Set(section.panels.map((p) => `${p.kind}:${p.key}`));
  for (const { kind, key } of addableKeys(metrics, mediaKinds)) {
    if (!have.has(`${kind}:${key}`)) select.add(new Option(kind === "line" ? key : `${key} (${kind})`, `${kind}:${key}`));
  }
  const add = button("Add panel", `Add panel to ${section.name}`, () => {
    if (!select.value) return;
    const [kind, ...rest] = select.value.split(":");
    setLayout(addPanel(layout, index, kind, rest.join(":")));
  });
  wrap.append(select, add);
  return wrap;
}

function layoutPanels() {
  // Empty figures in sections; each draws when it scrolls near the viewport.
  const panels = el("panels");
  syncXOptions();
  for (const chart of charts.values()) chart.destroy();
  charts.clear();
  drawn.clear();
  observer.disconnect();
  panels.replaceChildren();
  if (!customLayout) {
    const fresh = defaultLayout(metrics, mediaKinds);
    layout = { ...fresh, hidden_runs: layout.hidden_runs, panel_search: layout.panel_search };
  }
  const search = layout.panel_search || "";
  let matching = 0;
  layout.sections.forEach((section, index) => {
    const el_ = document.createElement("section");
    el_.className = "panel-section";
    el_.dataset.section = section.name;
    el_.append(sectionHeader(section, index));
    const shown = section.panels.map((p, i) => [p, i]).filter(([p]) => panelMatches(p.key, search));
    matching += shown.length;
    if (search && !shown.length) el_.hidden = true;
    if (!section.collapsed) {
      for (const [panel, panelIndex] of shown) {
        const fig = document.createElement("figure");
        fig.className = `panel panel-${panel.kind}`;
        fig.dataset.metric = panel.key;
        fig.dataset.kind = panel.kind;
        fig.setAttribute("aria-label", `${panel.kind === "line" ? "Chart" : panel.kind} of ${panel.key}`);
        if (editable) {
          fig.append(button("×", `Remove panel ${panel.key}`, () => setLayout(removePanel(layout, index, panelIndex)), "panel-remove"));
        }
        if (panel.kind !== "line") fig.append(Object.assign(document.createElement("figcaption"), { textContent: panel.key }));
        el_.append(fig);
        observer.observe(fig);
      }
      if (editable) el_.append(addPanelControl(section, index));
    }
    panels.append(el_);
  });
  const count = el("panel-count");
  if (count) count.textContent = search ? `${matching} panels match` : "";
}

const observer = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (!entry.isIntersecting) continue;
    observer.unobserve(entry.target);
    const key = entry.target.dataset.metric;
    const kind = entry.target.dataset.kind || "line";
    if (kind !== "line") { drawMedia(entry.target, key, kind); continue; }
    drawn.add(key);
    const fig = entry.target;
    ensureLoaded(key).then(() => draw(key), (error) => {
      if (!isAbort(error)) throw error;
      // Cancelled by a leave: if the page is still here after a pause, load it again.
      setTimeout(() => { drawn.delete(key); if (fig.isConnected) observer.observe(fig); },
        RETRY_AFTER_LEAVE_MS);
    });
  }
}, { rootMargin: "400px" });

async function loadMedia() {
  // One read for every media panel: each media key's steps (and files) per run.
  const ids = [...runs.keys()];
  const query = new URLSearchParams({ runs: ids.join(",") });
  try {
    return (await reads.getJson(`/ui/api/projects/${data.entity}/${data.project}/media?${query}`)) || {};
  } catch (error) {
    if (isAbort(error)) media = null; // read again on the next draw
    return {};
  }
}

async function drawMedia(fig, key, kind) {
  if (!media) media = loadMedia();
  const found = (await media)[key];
  const byRun = {};
  for (const run of shownRuns()) if (found && found.runs[run.id]) byRun[run.id] = found.runs[run.id];
  const ctx = {
    runIds: shownRuns().map((r) => r.id),
    runName: (id) => runs.get(id)?.name ?? id,
    runColor,
    fileUrl: (id, path) => `/ui/api/runs/${data.entity}/${data.project}/${encodeURIComponent(id)}/media/${path.split("/").map(encodeURIComponent).join("/")}`,
  };
  [...fig.children].filter((c) => !c.matches("button.panel-remove, figcaption")).forEach((c) => c.remove());
  renderMediaPanel(fig, key, kind, byRun, ctx);
  fig.dataset.drawn = "true";
}

function redrawMedia() {
  for (const fig of document.querySelectorAll("figure.panel[data-drawn]")) drawMedia(fig, fig.dataset.metric, fig.dataset.kind);
}

function draw(key) {
  const fig = document.querySelector(`figure.panel-line[data-metric="${CSS.escape(key)}"]`);
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
    // No always-on legend: the values at the cursor's x show in a tooltip while hovering.
    legend: { show: false },
    plugins: [tooltipPlugin(el("x-axis").value === "step" ? "step" : xMetric() ?? "time")],
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
    listViews();
  }
}

async function redrawAll() {
  redrawMedia();
  await Promise.all([...drawn].map(async (key) => {
    try { await ensureLoaded(key); } catch (error) { if (isAbort(error)) return; throw error; }
    draw(key);
  }));
}

function countVisible(key, u) {
  // Points drawn inside the visible x range: a zoom that refetched shows more of them.
  const fig = document.querySelector(`figure.panel-line[data-metric="${CSS.escape(key)}"]`);
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
  let body;
  try {
    body = await reads.getJson(`/ui/api/projects/${data.entity}/${data.project}/metric?${query}`);
  } catch (error) {
    if (isAbort(error)) return;
    throw error;
  }
  if (!body || u.zoomToken !== token || charts.get(key) !== u) return; // stale or redrawn
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
  const fig = document.querySelector(`figure.panel-line[data-metric="${CSS.escape(key)}"]`);
  if (fig) fig.dataset.points = String(xs.length);
  countVisible(key, u);
}

async function poll(cursor) {
  // Long poll: the server answers as soon as a run of this project changes (or after 20 s).
  for (;;) {
    try {
      const resp = await fetch(`/ui/api/projects/${data.entity}/${data.project}/changes?since=${encodeURIComponent(cursor)}`,
        { credentials: "same-origin", signal: leaving.signal });
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
      media = null; // media panels read their steps again
      const mediaBefore = Object.keys(mediaKinds).length;
      for (const r of changed) Object.assign(mediaKinds, r.media || {});
      const before = metrics.size;
      (body.metrics || []).forEach((k) => { if (!HIDDEN_KEYS.has(k)) metrics.add(k); });
      renderSidebar();
      const grew = metrics.size !== before || Object.keys(mediaKinds).length !== mediaBefore;
      if (grew) layoutPanels(); else await redrawAll();
    } catch (error) {
      // Cancelled by a leave: poll again after a pause if the page stayed.
      await new Promise((r) => setTimeout(r, isAbort(error) ? RETRY_AFTER_LEAVE_MS : 5000));
    }
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
  const panelSearch = el("panel-search");
  if (panelSearch) {
    panelSearch.value = layout.panel_search || "";
    panelSearch.addEventListener("input", () => {
      layout = { ...layout, panel_search: panelSearch.value };
      layoutPanels();
    });
  }
  listViews = wireSavedViews(data, () => layout, (saved) => {
    layout = { ...saved };
    customLayout = true;
    for (const run of runs.values()) run.visible = !saved.hidden_runs.includes(run.id);
    if (panelSearch) panelSearch.value = saved.panel_search || "";
    renderSidebar();
    layoutPanels();
  });
  // A workspace without line charts has no first paint to wait for.
  if (!metrics.size) listViews();
  const consoleSearch = el("console-search");
  if (consoleSearch) consoleSearch.addEventListener("input", () => filterConsole(el("console"), consoleSearch.value));
  onLeave(() => {
    reads.abortAll();
    leaving.abort();
    leaving = new AbortController();
  });
  poll(data.cursor);
}

main();
