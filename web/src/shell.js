// The page shell, loaded in <head> on every page: the remembered theme (applied before the
// first paint), the theme toggle, and arrow-key moves between tabs (WAI-ARIA tabs pattern).
const THEME_KEY = "runyard.theme";
const root = document.documentElement;

function storedTheme() {
  try {
    const theme = localStorage.getItem(THEME_KEY);
    return theme === "light" || theme === "dark" ? theme : null;
  } catch {
    return null;
  }
}

const chosen = storedTheme();
if (chosen) root.dataset.theme = chosen;

function isDark() {
  if (root.dataset.theme) return root.dataset.theme === "dark";
  return window.matchMedia("(prefers-color-scheme: dark)").matches;
}

function setUpThemeToggle() {
  const button = document.getElementById("theme-toggle");
  if (!button) return;
  const show = () => button.setAttribute("aria-pressed", String(isDark()));
  button.addEventListener("click", () => {
    root.dataset.theme = isDark() ? "light" : "dark";
    try { localStorage.setItem(THEME_KEY, root.dataset.theme); } catch { /* private mode */ }
    show();
  });
  show();
}

function setUpTabKeys() {
  // Left/Right (and Home/End) move focus along a tab bar; Enter follows the focused tab.
  for (const bar of document.querySelectorAll("nav.tabs, nav.mainnav")) {
    bar.addEventListener("keydown", (event) => {
      const links = [...bar.querySelectorAll("a")];
      const at = links.indexOf(document.activeElement);
      if (at < 0) return;
      const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: links.length - 1 }[event.key];
      if (to === undefined) return;
      event.preventDefault();
      links[(to + links.length) % links.length].focus();
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  setUpThemeToggle();
  setUpTabKeys();
});
