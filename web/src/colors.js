// Run colours: a pure function of the run id, so every panel, the run list and a reload agree.

/** 32-bit FNV-1a hash of a string. */
export function hashString(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** `#rrggbb` of an HSL colour (h in degrees, s and l in [0, 1]). */
export function hslToHex(h, s, l) {
  const k = (n) => (n + h / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n) => l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
  const hex = (x) => Math.round(x * 255).toString(16).padStart(2, "0");
  return `#${hex(f(0))}${hex(f(8))}${hex(f(4))}`;
}

/**
 * The colour of run `id`: hue from the hash, with lightness and saturation in a few steps so
 * neighbouring hues still differ; mid lightness keeps lines readable on light and dark themes.
 */
export function runColor(id) {
  const h = hashString(String(id));
  const hue = h % 360;
  const sat = [0.7, 0.55, 0.85][(h >>> 9) % 3];
  const light = [0.45, 0.38, 0.52][(h >>> 13) % 3];
  return hslToHex(hue, sat, light);
}
