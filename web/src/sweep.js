// The sweep page's parallel-coordinates chart, drawn with uPlot: the x axis walks the
// parameters (then the metric), each trial is one line through its scaled values.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { metricColor, parallelData } from "./sweepdata.js";

const el = document.getElementById("parallel");
const data = JSON.parse(document.getElementById("sweep-data").textContent);

function label(scale, name) {
  if (scale.kind === "category") return `${name} (${scale.levels.map((l) => JSON.parse(l)).join(" · ")})`;
  return `${name} [${scale.lo.toPrecision(3)} … ${scale.hi.toPrecision(3)}${scale.kind === "log" ? ", log" : ""}]`;
}

if (el && data.trials.length) {
  const { axes, scales, lines } = parallelData(data.trials, data.metric);
  const xs = axes.map((_, i) => i);
  const values = lines.map((l) => l.metric);
  const opts = {
    width: Math.max(480, el.clientWidth || 900),
    height: 360,
    legend: { show: false },
    cursor: { points: { show: false } },
    scales: { x: { time: false, range: [0, Math.max(1, axes.length - 1)] }, y: { range: [-0.05, 1.05] } },
    axes: [
      { splits: () => xs, values: () => axes, size: 40, gap: 8 },
      { show: false },
    ],
    series: [
      {},
      ...lines.map((l) => ({
        label: l.name,
        stroke: metricColor(l.metric, values, data.goal),
        width: l.state === "running" ? 2 : 1.25,
        dash: l.state === "running" ? [6, 4] : undefined,
        spanGaps: false,
        points: { show: true, size: 4 },
      })),
    ],
  };
  const plot = new uPlot(opts, [xs, ...lines.map((l) => l.ys)], el);
  // The axes in words too (the canvas has no text to read or search).
  const list = document.createElement("ol");
  list.className = "axes";
  axes.forEach((a, i) => list.append(Object.assign(document.createElement("li"), { textContent: label(scales[i], a) })));
  el.append(list);
  window.addEventListener("resize", () => plot.setSize({ width: el.clientWidth || 900, height: 360 }));
}
