// The workspace sidebar's run filter and sort (pure): the runs API's fields and operators,
// typed as text, e.g. `config.lr = 0.01 and summary_metrics.loss < 0.5`.

/** Text operators and the API operator each stands for (longest first, for matching). */
export const OPERATORS = [
  ["!=", "$ne"], [">=", "$gte"], ["<=", "$lte"], ["=", "$eq"], [">", "$gt"], ["<", "$lt"],
  ["~", "$regex"],
];
const FIELD_HELP = "name, state, group, config.<key> or summary_metrics.<key>";
const CONDITION = /^([A-Za-z_][\w.\-/]*)\s*(!=|>=|<=|=|>|<|~)\s*(.*)$/;

function normalField(field) {
  if (field.startsWith("summary.")) return `summary_metrics.${field.slice("summary.".length)}`;
  return field;
}

function knownField(field) {
  return ["name", "state", "group"].includes(field)
    || /^config\..+/.test(field) || /^summary_metrics\..+/.test(field);
}

function parseValue(text, op) {
  if (op === "$regex") return text;
  const quoted = text.match(/^"(.*)"$|^'(.*)'$/);
  if (quoted) return quoted[1] ?? quoted[2];
  try { return JSON.parse(text); } catch { return text; }
}

/**
 * Parse `field op value [and field op value ...]`. Returns {conditions, error}: on a problem,
 * no conditions and an error naming the part and the fix (so the sidebar keeps every run).
 */
export function parseFilter(text) {
  const conditions = [];
  const source = (text || "").trim();
  if (!source) return { conditions, error: null };
  for (const part of source.split(/\s+and\s+/i)) {
    const m = part.trim().match(CONDITION);
    if (!m) {
      const ops = OPERATORS.map(([t]) => t).join(" ");
      return { conditions: [], error: `cannot read "${part.trim()}": write field, operator (${ops}) and value, e.g. config.lr = 0.01` };
    }
    const field = normalField(m[1]);
    if (!knownField(field)) {
      return { conditions: [], error: `unknown field "${m[1]}": use ${FIELD_HELP}` };
    }
    if (/^[=<>!~]/.test(m[3].trim())) {
      const ops = OPERATORS.map(([t]) => t).join(" ");
      return { conditions: [], error: `cannot read "${part.trim()}": put one operator (${ops}) between field and value, e.g. ${m[1]} = 0.01` };
    }
    const op = OPERATORS.find(([t]) => t === m[2])[1];
    const value = parseValue(m[3].trim(), op);
    if (op === "$regex") {
      try { new RegExp(value); } catch (e) {
        return { conditions: [], error: `"${value}" after ~ is not a regular expression: ${e.message}` };
      }
    }
    conditions.push({ field, op, value });
  }
  return { conditions, error: null };
}

/** A run's value for a filter or sort field (undefined when the run has none). */
export function fieldValue(run, field) {
  if (field.startsWith("config.")) return (run.config || {})[field.slice("config.".length)];
  if (field.startsWith("summary_metrics.")) {
    return (run.summary || {})[field.slice("summary_metrics.".length)];
  }
  return run[field];
}

function compare(a, b) {
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

function holds(value, { op, value: wanted }) {
  if (op === "$ne") return value !== wanted;
  if (value === undefined || value === null) return false;
  switch (op) {
    case "$eq": return value === wanted || (typeof value !== "number" && String(value) === String(wanted));
    case "$regex": return new RegExp(wanted).test(String(value));
    case "$gt": return compare(value, wanted) > 0;
    case "$gte": return compare(value, wanted) >= 0;
    case "$lt": return compare(value, wanted) < 0;
    case "$lte": return compare(value, wanted) <= 0;
    default: return false;
  }
}

/** Whether a run meets every condition. */
export function matchesFilter(run, conditions) {
  return conditions.every((c) => holds(fieldValue(run, c.field), c));
}

/** Runs ordered by `field` (`created` keeps their creation order); runs without it go last. */
export function sortRuns(runs, field, descending) {
  const indexed = runs.map((run, i) => ({ run, i }));
  const valueOf = ({ run, i }) => (field === "created" ? i : fieldValue(run, field));
  indexed.sort((a, b) => {
    const va = valueOf(a), vb = valueOf(b);
    const missingA = va === undefined || va === null, missingB = vb === undefined || vb === null;
    if (missingA || missingB) return missingA === missingB ? a.i - b.i : missingA ? 1 : -1;
    const order = compare(va, vb);
    return (descending ? -order : order) || a.i - b.i;
  });
  return indexed.map(({ run }) => run);
}
