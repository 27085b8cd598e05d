// The gallery page: wires the views to the URL and to the signed-in caller.

import { onChange, signOut, subjectOf, token } from "./auth.js";
import { GenerateForm } from "./generate.js";
import { Grid } from "./grid.js";
import { ImageView } from "./imageview.js";
import { SignInDialog } from "./signin.js";
import { navigate, readState, sameFilters } from "./urlstate.js";

const $ = (id) => document.getElementById(id);

let shown = { filters: { q: "", tag: "", author: "" }, image: "" };
let gridFilters = null; // the filters the grid was last drawn for

/** Change some filters (a tag chip, an author, a removed filter) and show the gallery. */
function filterBy(change) {
  navigate({ filters: { ...shown.filters, ...change }, image: "" }, render);
}

const grid = new Grid({
  list: $("grid"),
  status: $("grid-status"),
  loadMore: $("load-more"),
  filtersBar: $("filters"),
  onFilter: filterBy,
});
const imageView = new ImageView({
  container: $("image-detail"),
  onFilter: filterBy,
  onChanged: () => {
    gridFilters = null; // the grid is drawn anew when it is shown again
  },
});
const signInDialog = new SignInDialog({
  dialog: $("sign-in-dialog"),
  form: $("sign-in-form"),
  field: $("sign-in-token"),
  devButton: $("sign-in-dev"),
  cancel: $("sign-in-cancel"),
});
new GenerateForm({
  form: $("generate-form"),
  progress: $("generate-progress"),
  elapsed: $("generate-elapsed"),
  status: $("generate-status"),
  submit: $("generate-submit"),
  retry: $("generate-retry"),
  onCreated: (image) => grid.prepend(image),
  onSignInNeeded: () => signInDialog.open(),
});

/** Draw what the URL says; the grid is kept (and its scroll) when only the image changes. */
function render(state, { reload = false } = {}) {
  const previous = shown;
  shown = state;
  if (reload) gridFilters = null; // what may be seen changed: draw the grid anew when shown
  $("search-q").value = state.filters.q;
  $("search-author").value = state.filters.author;
  if (state.image) {
    $("gallery-view").hidden = true;
    $("image-view").hidden = false;
    const opened = imageView.show(state.image);
    if (!reload) opened.then(() => imageView.focusTitle());
    return;
  }
  imageView.clear();
  $("image-view").hidden = true;
  $("gallery-view").hidden = false;
  document.title = "Gallery — PixyProxy";
  if (gridFilters === null || !sameFilters(gridFilters, state.filters)) {
    gridFilters = { ...state.filters };
    grid.show(state.filters);
  }
  const back = previous.image && grid.linkOf(previous.image);
  if (back) back.focus();
}

function drawAccount(reason = "") {
  const current = token();
  $("account-status").textContent = current ? `Signed in as ${subjectOf(current) ?? "(unknown)"}` : reason;
  $("sign-in").hidden = Boolean(current);
  $("sign-out").hidden = !current;
}

$("search").addEventListener("submit", (event) => {
  event.preventDefault();
  filterBy({ q: $("search-q").value.trim(), author: $("search-author").value.trim() });
});
$("back").addEventListener("click", () => navigate({ filters: shown.filters, image: "" }, render));
$("sign-in").addEventListener("click", () => signInDialog.open());
$("sign-out").addEventListener("click", () => signOut());
$("generate-toggle").addEventListener("click", () => {
  const panel = $("generate");
  panel.hidden = !panel.hidden;
  $("generate-toggle").setAttribute("aria-expanded", String(!panel.hidden));
  if (!panel.hidden) $("generate-prompt").focus();
});

// Links to views of this page (tiles, "open the new image", the brand) draw in place.
document.addEventListener("click", (event) => {
  const link = event.target.closest?.("a[href]");
  if (!link || link.hasAttribute("download") || event.defaultPrevented) return;
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  if (link.origin !== window.location.origin || link.pathname !== "/") return;
  event.preventDefault();
  navigate(readState(link), render);
});
window.addEventListener("popstate", () => render(readState()));

// Signing in or out changes what may be seen: private images appear or go.
onChange((event) => {
  drawAccount(event.detail?.reason);
  render(readState(), { reload: true });
  if (!$("sign-out").hidden) $("sign-out").focus();
  else if (!event.detail?.reason) $("sign-in").focus();
});

drawAccount();
render(readState());
