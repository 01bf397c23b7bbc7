// The workspace layout as data: sections of panels, and the edits a user makes to it.
// Pure functions: each returns a new layout, so the page can save exactly what it shows.

const KIND_ORDER = ["line", "image", "histogram", "table", "html", "audio", "video"];

/** The section a key belongs to by default: its prefix before `/`, or `charts`/`media`. */
export function sectionOf(key, kind) {
  if (key.includes("/")) return key.split("/")[0];
  return kind === "line" ? "charts" : "media";
}

/** The default layout: one line panel per metric and one media panel per media key. */
export function defaultLayout(metrics, media) {
  const sections = new Map();
  const add = (key, kind) => {
    const name = sectionOf(key, kind);
    if (!sections.has(name)) sections.set(name, { name, collapsed: false, panels: [] });
    sections.get(name).panels.push({ kind, key });
  };
  [...metrics].sort().forEach((k) => add(k, "line"));
  Object.keys(media || {}).sort().forEach((k) => add(k, media[k]));
  return { sections: [...sections.values()], hidden_runs: [], panel_search: "" };
}

/** A saved W&B view (`?nw=`, sections of metric names) as a layout of line panels. */
export function layoutFromSavedView(view) {
  return {
    sections: view.sections.map((s) => ({
      name: s.name, collapsed: false, panels: s.metrics.map((key) => ({ kind: "line", key })),
    })),
    hidden_runs: [],
    panel_search: "",
  };
}

/** Whether a panel's key matches the panel search (case-insensitive regex, else substring). */
export function panelMatches(key, search) {
  if (!search) return true;
  try { return new RegExp(search, "i").test(key); } catch { return key.toLowerCase().includes(search.toLowerCase()); }
}

function mapSection(layout, index, edit) {
  return { ...layout, sections: layout.sections.map((s, i) => (i === index ? edit(s) : s)) };
}

/** Rename section `index`; an empty name keeps the old one. */
export function renameSection(layout, index, name) {
  const clean = String(name).trim();
  return clean ? mapSection(layout, index, (s) => ({ ...s, name: clean })) : layout;
}

/** Collapse or expand section `index`. */
export function toggleSection(layout, index) {
  return mapSection(layout, index, (s) => ({ ...s, collapsed: !s.collapsed }));
}

/** Add a panel of `kind` drawing `key` to section `index` (no duplicate within a section). */
export function addPanel(layout, index, kind, key) {
  return mapSection(layout, index, (s) => (s.panels.some((p) => p.key === key && p.kind === kind)
    ? s : { ...s, panels: [...s.panels, { kind, key }] }));
}

/** Remove panel `panelIndex` of section `index`. */
export function removePanel(layout, index, panelIndex) {
  return mapSection(layout, index, (s) => ({ ...s, panels: s.panels.filter((_, i) => i !== panelIndex) }));
}

/** Add an empty section named `name` at the end. */
export function addSection(layout, name) {
  return { ...layout, sections: [...layout.sections, { name: String(name).trim() || "New section", collapsed: false, panels: [] }] };
}

/** Keys a user may add as panels: every metric as a line panel and every media key by kind. */
export function addableKeys(metrics, media) {
  const out = [...metrics].sort().map((key) => ({ kind: "line", key }));
  for (const key of Object.keys(media || {}).sort()) out.push({ kind: media[key], key });
  return out.sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || a.key.localeCompare(b.key));
}
