// Media panels: images with a step slider and captions, histograms over time as a heatmap,
// wandb.Table with sort and filter, HTML in a sandboxed iframe, audio and video players.
// Each renderer fills a panel element; the run page may import them too.
import { entryAt, heatmapGrid, tableView, cellText, unionSteps } from "./mediadata.js";

const MAX_RUNS_SHOWN = 8;

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
 * A step slider over `steps` (the last one first): calls `show(step)` now and on each move.
 * Returns the control (a label with a range input and the step shown).
 */
export function stepSlider(key, steps, show) {
  const out = node("output", { className: "step-value" });
  const input = node("input", {
    type: "range", min: "0", max: String(Math.max(0, steps.length - 1)), step: "1",
    value: String(Math.max(0, steps.length - 1)), "aria-label": `Step of ${key}`,
  });
  const apply = () => {
    const step = steps[Number(input.value)];
    out.textContent = `step ${step}`;
    input.setAttribute("aria-valuetext", `step ${step}`);
    show(step);
  };
  input.addEventListener("input", apply);
  const label = node("label", { className: "step-slider" }, ["Step ", input, " ", out]);
  apply();
  return label;
}

function runBlocks(byRun, ctx) {
  return ctx.runIds.filter((id) => byRun[id] && byRun[id].length).slice(0, MAX_RUNS_SHOWN);
}

function runHeading(id, ctx) {
  const sw = node("span", { className: "swatch" });
  sw.style.background = ctx.runColor(id);
  return node("div", { className: "media-run" }, [sw, ctx.runName(id)]);
}

/** Image, audio and video panels: per run, the files logged at the chosen step, captioned. */
function fileMediaPanel(panel, key, kind, byRun, ctx) {
  const ids = runBlocks(byRun, ctx);
  const steps = unionSteps(Object.fromEntries(ids.map((id) => [id, byRun[id]])));
  const grid = node("div", { className: `media-grid media-${kind}` });
  const cells = ids.map((id) => {
    const cell = node("div", { className: "media-cell", dataset: { run: id } });
    grid.append(node("div", { className: "media-block" }, [runHeading(id, ctx), cell]));
    return [id, cell];
  });
  const show = (step) => {
    for (const [id, cell] of cells) {
      const entry = entryAt(byRun[id], step);
      cell.replaceChildren();
      if (!entry) { cell.append(node("p", { className: "muted", textContent: "nothing logged yet" })); continue; }
      cell.dataset.step = String(entry.step);
      entry.files.forEach((path, i) => {
        const src = ctx.fileUrl(id, path);
        const caption = entry.captions[i] || "";
        let media;
        if (kind === "image") media = node("img", { src, alt: caption || `${key} at step ${entry.step}`, loading: "lazy" });
        else media = node(kind, { src, controls: true, preload: "metadata" });
        if (kind !== "image") media.setAttribute("aria-label", caption || `${key} at step ${entry.step}`);
        cell.append(node("figure", { className: "media-item" }, [media, node("figcaption", { textContent: caption })]));
      });
    }
  };
  panel.append(stepSlider(key, steps, show), grid);
}

/** A histogram logged over steps as a heatmap per run: x = step, y = value, shade = count. */
export function histogramPanel(panel, key, byRun, ctx) {
  for (const id of runBlocks(byRun, ctx)) {
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
    panel.append(node("div", { className: "media-block" }, [runHeading(id, ctx), canvas, axis]));
  }
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
  const ids = runBlocks(byRun, ctx);
  const steps = unionSteps(Object.fromEntries(ids.map((id) => [id, byRun[id]])));
  const boxes = ids.map((id) => {
    const box = node("div", { className: "media-cell", dataset: { run: id } });
    panel.append(node("div", { className: "media-block" }, [runHeading(id, ctx), box]));
    return [id, box];
  });
  const show = async (step) => {
    for (const [id, box] of boxes) {
      const entry = entryAt(byRun[id], step);
      if (!entry) { box.replaceChildren(node("p", { className: "muted", textContent: "nothing logged yet" })); continue; }
      const resp = await fetch(ctx.fileUrl(id, entry.files[0]), { credentials: "same-origin" });
      if (!resp.ok) { box.replaceChildren(node("p", { className: "error", textContent: `table file missing: ${entry.files[0]}` })); continue; }
      box.dataset.step = String(entry.step);
      box.replaceChildren(tableWidget(key, await resp.json()));
    }
  };
  panel.prepend(stepSlider(key, steps, show));
}

/** Logged HTML in an iframe sandboxed without allow-same-origin: its scripts run in an opaque origin. */
function htmlPanel(panel, key, byRun, ctx) {
  const ids = runBlocks(byRun, ctx);
  const steps = unionSteps(Object.fromEntries(ids.map((id) => [id, byRun[id]])));
  const frames = ids.map((id) => {
    const frame = node("iframe", { title: `${key} of ${ctx.runName(id)}`, sandbox: "allow-scripts", loading: "lazy", className: "media-html" });
    frame.setAttribute("sandbox", "allow-scripts");
    panel.append(node("div", { className: "media-block" }, [runHeading(id, ctx), frame]));
    return [id, frame];
  });
  panel.prepend(stepSlider(key, steps, (step) => {
    for (const [id, frame] of frames) {
      const entry = entryAt(byRun[id], step);
      frame.src = entry ? ctx.fileUrl(id, entry.files[0]) : "about:blank";
    }
  }));
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
