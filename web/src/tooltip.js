// Legends as hover tooltips: the values of every shown line at the cursor's x, nothing otherwise.

function fmt(v) {
  if (v == null || Number.isNaN(v)) return null;
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(3) : v.toPrecision(4);
}

/**
 * A uPlot plugin drawing a tooltip inside the plot: the x value (`xLabel`) and, for each
 * labelled series with a value at the cursor's index, its colour, name and value.
 */
export function tooltipPlugin(xLabel = "step") {
  let tip;
  return {
    hooks: {
      init: (u) => {
        tip = document.createElement("div");
        tip.className = "chart-tooltip";
        tip.setAttribute("role", "tooltip");
        tip.hidden = true;
        u.over.append(tip);
        u.over.addEventListener("mouseleave", () => { tip.hidden = true; });
      },
      setCursor: (u) => {
        const idx = u.cursor.idx;
        if (idx == null || u.cursor.left == null || u.cursor.left < 0) { tip.hidden = true; return; }
        const x = u.data[0][idx];
        const rows = [];
        u.series.forEach((s, i) => {
          if (i === 0 || !s.show || !s.width || !s.label) return;
          const v = fmt(u.data[i][idx]);
          if (v !== null) rows.push([s.stroke, s.label, v]);
        });
        tip.replaceChildren();
        const head = document.createElement("div");
        head.className = "tip-x";
        head.textContent = `${xLabel} ${fmt(x) ?? x}`;
        tip.append(head);
        tip.dataset.x = String(x);
        for (const [color, label, value] of rows) {
          const line = document.createElement("div");
          line.className = "tip-row";
          const sw = document.createElement("span");
          sw.className = "swatch";
          sw.style.background = typeof color === "function" ? color() : color;
          const name = document.createElement("span");
          name.className = "tip-name";
          name.textContent = label;
          const val = document.createElement("span");
          val.className = "tip-value";
          val.textContent = value;
          line.append(sw, name, val);
          tip.append(line);
        }
        tip.hidden = false;
        // Keep the box inside the plot: flip to the cursor's left past the middle.
        const left = u.cursor.left, top = u.cursor.top ?? 0;
        const flip = left > u.over.clientWidth / 2;
        tip.style.left = flip ? "" : `${left + 12}px`;
        tip.style.right = flip ? `${u.over.clientWidth - left + 12}px` : "";
        tip.style.top = `${Math.min(top, Math.max(0, u.over.clientHeight - tip.offsetHeight))}px`;
      },
    },
  };
}
