// What the page shows lives in its URL, so a view can be shared and survives a reload:
//   /?q=fox&tag=sea&author=alice   the gallery, filtered
//   /?image=<guid>                 one image (the filters stay in the URL for the way back)

export const FILTERS = ["q", "tag", "author"];

/** {filters: {q, tag, author}, image} from a location (missing values are ""). */
export function readState(location = window.location) {
  const params = new URLSearchParams(location.search);
  const filters = {};
  for (const name of FILTERS) filters[name] = (params.get(name) || "").trim();
  return { filters, image: (params.get("image") || "").trim() };
}

export function stateUrl({ filters, image }) {
  const params = new URLSearchParams();
  for (const name of FILTERS) if (filters[name]) params.set(name, filters[name]);
  if (image) params.set("image", image);
  const query = params.toString();
  return query ? `/?${query}` : "/";
}

export function sameFilters(a, b) {
  return FILTERS.every((name) => (a[name] || "") === (b[name] || ""));
}

/** Go to a state: a new history entry, then `render` draws it. */
export function navigate(state, render) {
  const url = stateUrl(state);
  if (url !== window.location.pathname + window.location.search) history.pushState(null, "", url);
  render(readState());
}
