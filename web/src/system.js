// Run page: system metrics (CPU, memory, network, GPUs) as uPlot charts over run time.
import uPlot from "uplot";
import { align, yAxisSize } from "./chartdata.js";

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f"];
const SECTION_TITLES = { system: "System", gpu: "GPU" };
const charts = [];

/** Fetch a run's system metrics and draw one chart per panel into `container`, by section. */
export async function drawSystem(container, entity, project, run) {
  const resp = await fetch(`/ui/api/runs/${entity}/${project}/${run}/system?buckets=500`,
    { credentials: "same-origin" });
  if (!resp.ok) return;
  const body = await resp.json();
  charts.splice(0).forEach((c) => c.destroy());
  container.replaceChildren();
  if (!body.panels.length) {
    const empty = document.createElement("p");
    empty.textContent = "No system metrics logged.";
    container.append(empty);
    return;
  }
  const sections = new Map();
  for (const panel of body.panels) {
    if (!sections.has(panel.section)) {
      const section = document.createElement("section");
      section.className = "panel-section";
      section.dataset.section = panel.section;
      const h = document.createElement("h3");
      h.textContent = SECTION_TITLES[panel.section] || panel.section;
      section.append(h);
      container.append(section);
      sections.set(panel.section, section);
    }
    const fig = document.createElement("figure");
    fig.className = "panel";
    fig.dataset.system = panel.title;
    fig.setAttribute("aria-label", `Chart of ${panel.title}`);
    sections.get(panel.section).append(fig);
    const lines = panel.lines.map((l) => {
      const buckets = body.series[l.key] || [];
      return [buckets.map((b) => b.x_max), buckets.map((b) => b.last)];
    });
    const [xs, ys] = align(lines);
    fig.dataset.lines = panel.lines.map((l) => l.label).join("\n");
    fig.dataset.points = String(xs.length);
    const width = Math.max(260, Math.min(520, container.clientWidth - 20));
    const series = [{ label: "Seconds" },
      ...panel.lines.map((l, i) => ({ label: l.label, stroke: PALETTE[i % PALETTE.length], width: 1.5 }))];
    const axes = [{}, { size: (u, values) => yAxisSize(values) }];
    charts.push(new uPlot({ title: panel.title, width, height: 200, series, axes, scales: { x: { time: false } } },
      [xs, ...ys], fig));
  }
}
