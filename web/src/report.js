// Report pages: live line plots over each grid's run set (uPlot, the workspace's chart code
// and its per-panel metric endpoint) and LaTeX blocks typeset with KaTeX.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import katex from "katex";
import "katex/dist/katex.min.css";
import "./report.css";
import { align, yAxisSize } from "./chartdata.js";

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf"];

function typeset() {
  for (const node of document.querySelectorAll(".report-latex")) {
    katex.render(node.dataset.tex, node, { displayMode: true, throwOnError: false });
    node.dataset.typeset = "1";
  }
}

async function drawLine(grid, fig) {
  const metrics = JSON.parse(fig.dataset.metrics);
  const runs = grid.runs;
  if (!runs.length || !metrics.length) {
    fig.dataset.drawn = "empty";
    return;
  }
  const query = new URLSearchParams({ runs: runs.map((r) => r.id).join(","), buckets: "300" });
  metrics.forEach((k) => query.append("key", k));
  const url = `${grid.metricUrl}${grid.metricUrl.includes("?") ? "&" : "?"}${query}`;
  const found = await (await fetch(url, { credentials: "same-origin" })).json();
  const series = [];
  const specs = [];
  runs.forEach((run, i) => {
    for (const key of metrics) {
      const buckets = (found[run.id] || {})[key] || [];
      if (!buckets.length) continue;
      series.push([buckets.map((b) => b.x_max), buckets.map((b) => b.last)]);
      specs.push({ label: metrics.length > 1 ? `${run.name} ${key}` : run.name,
        stroke: PALETTE[i % PALETTE.length], width: 1.5 });
    }
  });
  const [xs, ys] = align(series);
  fig.dataset.lines = String(specs.length);
  fig.dataset.points = String(xs.length);
  const width = Math.max(260, Math.min(520, fig.parentElement.clientWidth - 20));
  const opts = {
    title: fig.dataset.title, width, height: 220, series: [{ label: "Step" }, ...specs],
    scales: { x: { time: false } },
    axes: [{}, { size: (u, values) => yAxisSize(values) }],
  };
  new uPlot(opts, [xs, ...ys], fig);
  fig.dataset.drawn = "1";
}

async function drawGrids() {
  const jobs = [];
  for (const section of document.querySelectorAll(".report-grid")) {
    const grid = JSON.parse(section.querySelector("script.grid-data").textContent);
    for (const fig of section.querySelectorAll("figure.report-line")) jobs.push(drawLine(grid, fig));
  }
  await Promise.all(jobs);
  document.body.dataset.reportReadyMs = String(performance.now());
  document.body.dataset.reportReady = "1";
}

typeset();
drawGrids();
