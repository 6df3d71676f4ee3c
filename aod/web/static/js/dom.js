// The page's one way to make DOM. Text always goes in as text (textContent or text nodes), never
// as markup: issue titles, agent output and review comments are written by others.

const PROPERTIES = new Set(["value", "checked", "disabled", "hidden", "selected", "required", "readOnly", "open"]);

/** el("button", {class: "x", testid: "kill", on: {click: fn}}, "Kill", child, ...) */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key === "testid") node.dataset.testid = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "data") Object.assign(node.dataset, value);
    else if (key === "on") for (const [name, handler] of Object.entries(value)) node.addEventListener(name, handler);
    else if (PROPERTIES.has(key)) node[key] = value;
    else if (value !== false) node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replace everything inside `node` with `children`. */
export function fill(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

/** A link only to http(s) addresses: a forge's URL is data, and `javascript:` must not run. */
export function link(url, text, props = {}) {
  let safe = null;
  try {
    const parsed = new URL(url, location.href);
    if (parsed.protocol === "http:" || parsed.protocol === "https:") safe = parsed.href;
  } catch {
    safe = null;
  }
  if (safe === null) return el("span", props, text);
  return el("a", {href: safe, target: "_blank", rel: "noopener noreferrer", ...props}, text);
}

/** A small badge: `kind` picks its colour (a CSS class), the text says it in words. */
export function badge(text, kind = "", props = {}) {
  return el("span", {class: `badge ${kind}`.trim(), ...props}, text);
}

/** `<dl>` from [label, value] pairs. */
export function facts(pairs, props = {}) {
  return el("dl", {class: "facts", ...props}, pairs.filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}
