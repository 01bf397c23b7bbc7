// Saved workspace views: the signed-in user's own named layouts, listed, loaded, saved, deleted.

function viewsUrl(data, name) {
  const base = `/ui/api/projects/${encodeURIComponent(data.entity)}/${encodeURIComponent(data.project)}/workspace-views`;
  return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
}

/** The server's reason for a refused request (its `detail` or plain text). */
async function reason(resp) {
  const text = await resp.text();
  try {
    const body = JSON.parse(text);
    if (typeof body.detail === "string") return body.detail;
    return body.detail?.message ?? JSON.stringify(body.detail ?? body);
  } catch { return text; }
}

/**
 * Wire the view controls (#view-select, #view-name, #view-save, #view-delete, #view-status):
 * `getLayout()` is what Save stores; `apply(layout)` shows a loaded one. Returns the function
 * that lists the saved views: the page calls it after its first chart paint, so the list never
 * competes with the first charts' reads.
 */
export function wireSavedViews(data, getLayout, apply) {
  const select = document.getElementById("view-select");
  const name = document.getElementById("view-name");
  const status = document.getElementById("view-status");
  if (!select || !name) return () => {};
  const headers = { "Content-Type": "application/json", "X-CSRF-Token": data.csrf || "" };
  let views = [];
  const refresh = async (chosen) => {
    const resp = await fetch(viewsUrl(data), { credentials: "same-origin" });
    views = resp.ok ? await resp.json() : [];
    select.replaceChildren(new Option("(default layout)", ""));
    for (const v of views) select.add(new Option(v.name, v.name));
    select.value = chosen ?? "";
  };
  select.addEventListener("change", () => {
    const view = views.find((v) => v.name === select.value);
    if (!view) return;
    name.value = view.name;
    apply(view.layout);
    status.textContent = `Showing saved view ${view.name}`;
  });
  document.getElementById("view-save").addEventListener("click", async () => {
    const chosen = name.value.trim();
    const resp = await fetch(viewsUrl(data, chosen || " "), {
      method: "PUT", credentials: "same-origin", headers, body: JSON.stringify({ layout: getLayout() }),
    });
    if (!resp.ok) { status.textContent = `Not saved: ${await reason(resp)}`; status.classList.add("error"); return; }
    status.classList.remove("error");
    status.textContent = `Saved view ${chosen}`;
    await refresh(chosen);
  });
  document.getElementById("view-delete").addEventListener("click", async () => {
    if (!select.value) return;
    const gone = select.value;
    const resp = await fetch(viewsUrl(data, gone), { method: "DELETE", credentials: "same-origin", headers });
    status.textContent = resp.ok ? `Deleted view ${gone}` : `Not deleted: ${await reason(resp)}`;
    await refresh("");
  });
  let listed = false;
  return () => { if (!listed) { listed = true; refresh(); } };
}
