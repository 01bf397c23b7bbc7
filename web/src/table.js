// Runs table: shift-click adds a sort key, a remembered column picker, arrow-key row navigation.
const table = document.getElementById("runs-table");

// Columns a user picked (true) or dropped (false); the rest keep the page's default, which
// hides internal keys and media files (`data-default-hidden`).
function columnChoices() {
  try {
    const stored = JSON.parse(localStorage.getItem(table.dataset.columnsKey) || "{}");
    return stored && typeof stored === "object" && !Array.isArray(stored) ? stored : {};
  } catch { return {}; }
}

function applyColumns(choices) {
  const shown = {};
  for (const box of document.querySelectorAll("#column-picker input[data-col]")) {
    const col = box.dataset.col;
    shown[col] = col in choices ? choices[col] : !box.hasAttribute("data-default-hidden");
    box.checked = shown[col];
  }
  for (const cell of table.querySelectorAll("[data-col]")) cell.hidden = !shown[cell.dataset.col];
}

function setUpColumnPicker() {
  applyColumns(columnChoices());
  for (const box of document.querySelectorAll("#column-picker input[data-col]")) {
    box.addEventListener("change", () => {
      const choices = columnChoices();
      choices[box.dataset.col] = box.checked;
      localStorage.setItem(table.dataset.columnsKey, JSON.stringify(choices));
      applyColumns(choices);
    });
  }
}

function setUpSorting() {
  // The server computes both targets; Shift (click or Enter) follows the "add a key" one.
  for (const link of table.querySelectorAll("a[data-sort]")) {
    link.addEventListener("click", (event) => {
      if (!event.shiftKey) return;
      event.preventDefault();
      window.location.href = link.dataset.addHref;
    });
  }
}

function setUpRowKeys() {
  // Arrow keys move focus between the runs' name links; Home/End jump to the first/last run.
  table.addEventListener("keydown", (event) => {
    const row = event.target.closest("tr[data-run]");
    if (!row) return;
    const rows = [...table.querySelectorAll("tr[data-run]")];
    const at = rows.indexOf(row);
    const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: rows.length - 1 }[event.key];
    if (to === undefined || to < 0 || to >= rows.length) return;
    event.preventDefault();
    rows[to].querySelector("a").focus();
  });
}

if (table) {
  setUpColumnPicker();
  setUpSorting();
  setUpRowKeys();
}
