// Runs table: shift-click adds a sort key, a remembered column picker, arrow-key row navigation.
const table = document.getElementById("runs-table");

function hiddenColumns() {
  try { return new Set(JSON.parse(localStorage.getItem(table.dataset.columnsKey) || "[]")); }
  catch { return new Set(); }
}

function applyColumns(hidden) {
  for (const cell of table.querySelectorAll("[data-col]")) cell.hidden = hidden.has(cell.dataset.col);
  for (const box of document.querySelectorAll("#column-picker input[data-col]")) {
    box.checked = !hidden.has(box.dataset.col);
  }
}

function setUpColumnPicker() {
  applyColumns(hiddenColumns());
  for (const box of document.querySelectorAll("#column-picker input[data-col]")) {
    box.addEventListener("change", () => {
      const hidden = hiddenColumns();
      if (box.checked) hidden.delete(box.dataset.col); else hidden.add(box.dataset.col);
      localStorage.setItem(table.dataset.columnsKey, JSON.stringify([...hidden]));
      applyColumns(hidden);
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
