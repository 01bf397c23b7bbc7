// Media panels: images with a step slider and captions, histograms over time as a heatmap,
// wandb.Table with sort and filter, HTML in a sandboxed iframe, audio and video players.
// Each renderer fills a panel element; the run page may import them too.
import { entryAt, heatmapGrid, tableView, cellText, unionSteps, sliderIndex, formatDuration } from "./mediadata.js";

// Runs drawn at first (and per "Show more" click): a panel of many runs stays quick to draw.
export const RUNS_PER_PAGE = 8;

// What the user chose in each media panel, kept across the redraws a live update makes:
// `${kind}\u0000${key}` -> {step, pinned (a step other than the newest), shown (runs drawn)}.
const panelStates = new Map();

function panelState(key, kind) {
  const id = `${kind}\u0000${key}`;
  if (!panelStates.has(id)) panelStates.set(id, { step: null, pinned: false, shown: RUNS_PER_PAGE });
  return panelStates.get(id);
}

function node(tag, props = {}, children = []) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "dataset") Object.assign(e.dataset, v);
    else if (k in e && k !== "role") e[k] = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

/**
 * A step slider over `steps`: calls `show(step)` now and on each move. It starts at the newest
 * step unless `state` (the panel's remembered choice) holds an older step the user picked:
 * a live update that adds steps then leaves that choice alone. Returns the control (a label
 * with a range input and the step shown).
 */
export function stepSlider(key, steps, show, state = { step: null, pinned: false }) {
  const out = node("output", { className: "step-value" });
  const last = Math.max(0, steps.length - 1);
  const input = node("input", {
    type: "range", min: "0", max: String(last), step: "1",
    value: String(sliderIndex(steps, state.pinned ? state.step : null)), "aria-label": `Step of ${key}`,
  });
  const apply = () => {
    const step = steps[Number(input.value)];
    out.textContent = `step ${step}`;
    input.setAttribute("aria-valuetext", `step ${step}`);
    show(step);
  };
  input.addEventListener("input", () => {
    state.step = steps[Number(input.value)];
    state.pinned = Number(input.value) < last; // at the newest step: follow new steps
    apply();
  });
  const label = node("label", { className: "step-slider" }, ["Step ", input, " ", out]);
  apply();
  return label;
}

/**
 * Draw run blocks page by page: `addBlock(id)` for the first runs (as many as the panel
 * showed before, at least a page), then a "Show N more runs" button that adds the next page.
 * Returns the button (hidden once every run is drawn).
 */
function pagedRuns(ids, state, addBlock) {
  const more = node("button", { type: "button", className: "media-more" });
  let shown = 0;
  const grow = (upTo) => {
    const next = Math.min(ids.length, upTo);
    for (const id of ids.slice(shown, next)) addBlock(id);
    shown = next;
    // Remember how many the user asked for, not how many there were: a redraw with more runs
    // (a run shown again, a new one) draws as many as before.
    state.shown = Math.max(RUNS_PER_PAGE, upTo);
    const left = ids.length - shown;
    const page = Math.min(RUNS_PER_PAGE, left);
    more.hidden = left === 0;
    more.style.display = left === 0 ? "none" : ""; // the app's button styles outrank [hidden]
    more.textContent = `Show ${page} more run${page === 1 ? "" : "s"} (${left} not shown)`;
    more.dataset.left = String(left);
  };
  more.addEventListener("click", () => grow(shown + RUNS_PER_PAGE));
  grow(Math.max(RUNS_PER_PAGE, state.shown || 0));
  return more;
}

function runBlocks(byRun, ctx) {
  // Every shown run that logged this key, in the workspace's run order.
  return ctx.runIds.filter((id) => byRun[id] && byRun[id].length);
}

function runHeading(id, ctx) {
  const sw = node("span", { className: "swatch" });
  sw.style.background = ctx.runColor(id);
  return node("div", { className: "media-run" }, [sw, ctx.runName(id)]);
}

/** A player's length once its metadata has loaded: shown beside it and kept in data-duration. */
function showDuration(media, caption) {
  const label = node("span", { className: "media-duration muted" });
  label.style.marginRight = "0.5em"; // apart from the caption that follows
  caption.prepend(label);
  media.addEventListener("loadedmetadata", () => {
    if (!Number.isFinite(media.duration)) return;
    media.dataset.duration = String(media.duration);
    label.textContent = formatDuration(media.duration);
  });
}

/** Image, audio and video panels: per run, the files logged at the chosen step, captioned. */
function fileMediaPanel(panel, key, kind, byRun, ctx) {
  const state = panelState(key, kind);
  const ids = runBlocks(byRun, ctx);
  const steps = unionSteps(Object.fromEntries(ids.map((id) => [id, byRun[id]])));
  const grid = node("div", { className: `media-grid media-${kind}` });
  const cells = [];
  let current = null;
  const fill = (id, cell) => {
    const entry = entryAt(byRun[id], current);
    cell.replaceChildren();
    if (!entry) { cell.append(node("p", { className: "muted", textContent: "nothing logged yet" })); return; }
    cell.dataset.step = String(entry.step);
    entry.files.forEach((path, i) => {
      const src = ctx.fileUrl(id, path);
      const caption = entry.captions[i] || "";
      const figcaption = node("figcaption", { textContent: caption });
      let media;
      if (kind === "image") media = node("img", { src, alt: caption || `${key} at step ${entry.step}`, loading: "lazy" });
      else {
        media = node(kind, { src, controls: true, preload: "metadata" });
        media.setAttribute("aria-label", caption || `${key} at step ${entry.step}`);
        showDuration(media, figcaption);
      }
      cell.append(node("figure", { className: "media-item" }, [media, figcaption]));
    });
  };
  const more = pagedRuns(ids, state, (id) => {
    const cell = node("div", { className: "media-cell", dataset: { run: id } });
    grid.append(node("div", { className: "media-block" }, [runHeading(id, ctx), cell]));
    cells.push([id, cell]);
    if (current !== null) fill(id, cell);
  });
  const slider = stepSlider(key, steps, (step) => {
    current = step;
    for (const [id, cell] of cells) fill(id, cell);
  }, state);
  panel.append(slider, grid, more);
}

/** A histogram logged over steps as a heatmap per run: x = step, y = value, shade = count. */
export function histogramPanel(panel, key, byRun, ctx) {
  const blocks = node("div", { className: "media-blocks" });
  const more = pagedRuns(runBlocks(byRun, ctx), panelState(key, "histogram"), (id) => {
    const grid = heatmapGrid(byRun[id], 32);
    const width = 480, height = 160;
    const canvas = node("canvas", { width, height, className: "heatmap", role: "img",
      "aria-label": `Histogram of ${key} over ${grid.steps.length} steps for ${ctx.runName(id)}` });
    const g = canvas.getContext("2d");
    const cw = width / Math.max(1, grid.cells.length), ch = height / grid.rows;
    let drawn = 0;
    grid.cells.forEach((col, c) => col.forEach((count, r) => {
      if (!count) return;
      drawn++;
      const t = Math.sqrt(count / grid.max); // sqrt keeps sparse tails visible
      g.fillStyle = `rgba(31, 119, 180, ${0.08 + 0.92 * t})`;
      g.fillRect(c * cw, height - (r + 1) * ch, Math.ceil(cw), Math.ceil(ch));
    }));
    canvas.dataset.cells = String(drawn);
    canvas.dataset.steps = String(grid.steps.length);
    const axis = node("div", { className: "heatmap-axis muted",
      textContent: `steps ${grid.steps[0] ?? ""}–${grid.steps[grid.steps.length - 1] ?? ""} · values ${grid.lo.toPrecision(3)} to ${grid.hi.toPrecision(3)}` });
    blocks.append(node("div", { className: "media-block" }, [runHeading(id, ctx), canvas, axis]));
  });
  panel.append(blocks, more);
}

/** A wandb.Table: click a column header to sort (again to reverse), type to filter rows. */
export function tableWidget(key, table) {
  const columns = table.columns || [];
  const rows = table.data || [];
  let col = -1, ascending = true;
  const filter = node("input", { type: "search", placeholder: "Filter rows", "aria-label": `Filter rows of ${key}` });
  const count = node("p", { className: "muted table-count" });
  const head = node("tr");
  const body = node("tbody");
  const render = () => {
    const shown = tableView(rows, col, ascending, filter.value);
    body.replaceChildren(...shown.slice(0, 500).map((r) => node("tr", {}, r.map((c) => node("td", { textContent: cellText(c) })))));
    count.textContent = `${shown.length} of ${rows.length} rows`;
    [...head.children].forEach((th, i) => th.setAttribute("aria-sort", i === col ? (ascending ? "ascending" : "descending") : "none"));
  };
  columns.forEach((name, i) => {
    const button = node("button", { type: "button", className: "sort", textContent: String(name) });
    button.addEventListener("click", () => { ascending = col === i ? !ascending : true; col = i; render(); });
    head.append(node("th", { scope: "col" }, [button]));
  });
  filter.addEventListener("input", render);
  const tableEl = node("table", { className: "data media-table", "aria-label": `Table ${key}` }, [node("thead", {}, [head]), body]);
  render();
  return node("div", { className: "table-widget" }, [filter, count, node("div", { className: "scroll" }, [tableEl])]);
}

function tablePanel(panel, key, byRun, ctx) {
  const state = panelState(key, "table");
  const ids = runBlocks(byRun, ctx);
  const steps = unionSteps(Object.fromEntries(ids.map((id) => [id, byRun[id]])));
  const blocks = node("div", { className: "media-blocks" });
  const boxes = [];
  let current = null;
  const fill = async (id, box) => {
    const entry = entryAt(byRun[id], current);
    if (!entry) { box.replaceChildren(node("p", { className: "muted", textContent: "nothing logged yet" })); return; }
    const resp = await fetch(ctx.fileUrl(id, entry.files[0]), { credentials: "same-origin" });
    if (!resp.ok) { box.replaceChildren(node("p", { className: "error", textContent: `table file missing: ${entry.files[0]}` })); return; }
    box.dataset.step = String(entry.step);
    box.replaceChildren(tableWidget(key, await resp.json()));
  };
  const more = pagedRuns(ids, state, (id) => {
    const box = node("div", { className: "media-cell", dataset: { run: id } });
    blocks.append(node("div", { className: "media-block" }, [runHeading(id, ctx), box]));
    boxes.push([id, box]);
    if (current !== null) fill(id, box);
  });
  const slider = stepSlider(key, steps, async (step) => {
    current = step;
    for (const [id, box] of boxes) await fill(id, box);
  }, state);
  panel.append(slider, blocks, more);
}

/** Logged HTML in an iframe sandboxed without allow-same-origin: its scripts run in an opaque origin. */
function htmlPanel(panel, key, byRun, ctx) {
  const state = panelState(key, "html");
  const ids = runBlocks(byRun, ctx);
  const steps = unionSteps(Object.fromEntries(ids.map((id) => [id, byRun[id]])));
  const blocks = node("div", { className: "media-blocks" });
  const frames = [];
  let current = null;
  const fill = (id, frame) => {
    const entry = entryAt(byRun[id], current);
    frame.src = entry ? ctx.fileUrl(id, entry.files[0]) : "about:blank";
  };
  const more = pagedRuns(ids, state, (id) => {
    const frame = node("iframe", { title: `${key} of ${ctx.runName(id)}`, sandbox: "allow-scripts", loading: "lazy", className: "media-html" });
    frame.setAttribute("sandbox", "allow-scripts");
    blocks.append(node("div", { className: "media-block" }, [runHeading(id, ctx), frame]));
    frames.push([id, frame]);
    if (current !== null) fill(id, frame);
  });
  const slider = stepSlider(key, steps, (step) => {
    current = step;
    for (const [id, frame] of frames) fill(id, frame);
  }, state);
  panel.append(slider, blocks, more);
}

/** Fill `panel` with the media panel of `kind` for `byRun` ({runId: [{step, ...}]}). */
export function renderMediaPanel(panel, key, kind, byRun, ctx) {
  if (!Object.values(byRun || {}).some((e) => e && e.length)) {
    panel.append(node("p", { className: "muted", textContent: `No ${kind} logged under ${key} by the shown runs.` }));
    return;
  }
  if (kind === "histogram") histogramPanel(panel, key, byRun, ctx);
  else if (kind === "table") tablePanel(panel, key, byRun, ctx);
  else if (kind === "html") htmlPanel(panel, key, byRun, ctx);
  else fileMediaPanel(panel, key, kind, byRun, ctx);
}
