// Building the page from data, safely by construction: every string becomes a text node or
// an attribute value, never markup. No module of the gallery parses HTML (the page's
// Content-Security-Policy requires Trusted Types, so `innerHTML = string` would throw).

/**
 * h("a", {href: "/", class: "tile"}, "text", child) — an element with attributes and
 * children. Strings become text nodes; `on*` functions become listeners; `false`, `null`
 * and `undefined` attributes and children are left out; `true` attributes are empty.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (typeof value === "function" && name.startsWith("on")) {
      element.addEventListener(name.slice(2), value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  element.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  return element;
}

/** Replace an element's children (text or nodes). */
export function fill(element, ...children) {
  element.replaceChildren(...children.flat().filter((child) => child !== null && child !== undefined));
}

/** `text` cut to at most `max` characters at a word boundary where one is near, with "…". */
export function truncate(text, max) {
  const flat = text.replace(/\s+/g, " ").trim();
  if (flat.length <= max) return flat;
  const cut = flat.slice(0, max - 1);
  const space = cut.lastIndexOf(" ");
  return (space > max * 0.6 ? cut.slice(0, space) : cut) + "…";
}

/** Show an error message under a field and mark the field invalid (or clear both). */
export function setFieldError(field, message) {
  const error = document.getElementById(`${field.id}-error`);
  if (message) {
    field.setAttribute("aria-invalid", "true");
    error.textContent = message;
    error.hidden = false;
  } else {
    field.removeAttribute("aria-invalid");
    error.textContent = "";
    error.hidden = true;
  }
}
