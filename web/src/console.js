// The run page's console log: search, and the live tail of a running run's new lines.

/** Whether a console line is shown for the search text `query` (empty shows every line). */
export function lineShown(text, query) {
  return !query || text.includes(query);
}

/** Hide the lines of `pre` that do not contain `query`. */
export function filterConsole(pre, query) {
  for (const line of pre.querySelectorAll(".line")) line.hidden = !lineShown(line.textContent, query);
}

/**
 * Put `[lineNo, text]` pairs into `pre`: a known line number is rewritten in place (progress
 * bars), a new one appended. Keeps the view pinned to the bottom when it was there.
 * Returns the next line number to ask for.
 */
export function mergeConsole(pre, lines, query, next) {
  const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 4;
  for (const [n, text] of lines) {
    let span = pre.querySelector(`.line[data-line="${n}"]`);
    if (!span) {
      span = document.createElement("span");
      span.className = "line";
      span.dataset.line = String(n);
      pre.append(span, "\n");
    }
    span.textContent = text;
    span.hidden = !lineShown(text, query);
    next = Math.max(next, n + 1);
  }
  if (atBottom && lines.length) pre.scrollTop = pre.scrollHeight;
  return next;
}

/** Fetch the lines from the last shown one on and merge them; returns the next line number. */
export async function tailConsole(pre, url, next, query) {
  const since = Math.max(0, next - 1);
  const resp = await fetch(`${url}?since=${since}`, { credentials: "same-origin" });
  if (!resp.ok) return next;
  const body = await resp.json();
  return mergeConsole(pre, body.lines, query, next);
}
