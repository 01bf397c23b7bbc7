// The run page's System and Logs tabs: system-metric charts, and the console's live tail and
// search. Both follow the run while it runs through the project's long poll of changes.
import { filterConsole, tailConsole } from "./console.js";
import { drawSystem } from "./system.js";
import { isAbort, onLeave } from "./fetchpool.js";

const el = (id) => document.getElementById(id);
const data = JSON.parse(el("ws-data").textContent);
const runId = data.runs[0].id;
let consoleNext = data.console_next || 0;
// The long poll is cancelled when the page is left, so the next page's request need not wait
// for its connection (fetchpool.js); replaced if the page stays after all.
let leaving = new AbortController();

async function refresh() {
  const system = el("system-panels");
  if (system) await drawSystem(system, data.entity, data.project, runId);
  const pre = el("console");
  if (pre) {
    const url = `/ui/api/runs/${data.entity}/${data.project}/${runId}/console`;
    consoleNext = await tailConsole(pre, url, consoleNext, el("console-search").value);
    if (el("console-empty") && pre.querySelector(".line")) el("console-empty").remove();
  }
}

async function follow(cursor) {
  // Long poll: the server answers as soon as a run of the project changes (or after 20 s).
  for (;;) {
    try {
      const resp = await fetch(`/ui/api/projects/${data.entity}/${data.project}/changes?since=${encodeURIComponent(cursor)}`,
        { credentials: "same-origin", signal: leaving.signal });
      if (!resp.ok) { await new Promise((r) => setTimeout(r, 5000)); continue; }
      const body = await resp.json();
      cursor = body.cursor;
      const mine = body.runs.find((r) => r.id === runId);
      if (!mine) continue;
      await refresh();
      if (mine.state !== "running" && el("console-live")) el("console-live").textContent = "";
    } catch (error) { await new Promise((r) => setTimeout(r, isAbort(error) ? 1000 : 5000)); }
  }
}

function main() {
  const search = el("console-search");
  if (search) search.addEventListener("input", () => filterConsole(el("console"), search.value));
  const system = el("system-panels");
  if (system) drawSystem(system, data.entity, data.project, runId);
  onLeave(() => { leaving.abort(); leaving = new AbortController(); });
  follow(data.cursor);
}

main();
