// The gallery view: a grid of tiles, newest first, loading the next page (the list's
// `Link: rel="next"`) as the end of the grid comes near, or when "Load more" is pressed.

import { listPage, listPath } from "./api.js";
import { fill, h } from "./dom.js";
import { Pictures } from "./images.js";
import { tile } from "./tiles.js";

export const PAGE_SIZE = 50;

const FILTER_LABELS = { q: "Prompt words", tag: "Tag", author: "Author" };

export class Grid {
  constructor({ list, status, loadMore, filtersBar, onFilter }) {
    this.list = list;
    this.status = status;
    this.loadMore = loadMore;
    this.filtersBar = filtersBar;
    this.onFilter = onFilter;
    this.pictures = new Pictures();
    this.filters = null;
    this.next = null;
    this.count = 0;
    this.loading = null; // AbortController of the page on its way
    this.failed = false;
    this.nearEnd = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) this.more();
    }, { rootMargin: "800px" });
    loadMore.addEventListener("click", () => this.more({ byKeyboardOrClick: true }));
  }

  /** Show the first page for `filters`, dropping whatever was shown. */
  show(filters) {
    this.loading?.abort();
    this.loading = null;
    this.pictures.release();
    this.filters = { ...filters };
    this.next = listPath(filters, PAGE_SIZE);
    this.count = 0;
    this.list.replaceChildren();
    this.drawFilters();
    this.more();
  }

  /** The next page, unless one is on its way or there is none. */
  async more({ byKeyboardOrClick = false } = {}) {
    if (this.loading || !this.next) return;
    if (this.failed && !byKeyboardOrClick) return; // after an error, wait for "Try again"
    const controller = new AbortController();
    this.loading = controller;
    this.failed = false;
    this.setStatus(this.count ? "Loading more images…" : "Loading images…");
    this.loadMore.hidden = true;
    const focusNew = byKeyboardOrClick && document.activeElement === this.loadMore;
    try {
      const page = await listPage(this.next, controller.signal);
      if (controller.signal.aborted) return;
      const tiles = page.images.map((image) => this.tile(image));
      this.list.append(...tiles);
      this.count += tiles.length;
      this.next = page.next;
      if (this.count === tiles.length) performance.mark("gallery:first-page");
      if (focusNew && tiles.length) tiles[0].querySelector("a").focus();
      this.setStatus(this.summary());
    } catch (error) {
      if (controller.signal.aborted) return;
      this.failed = true;
      this.setStatus(`The images could not be loaded: ${error.message}`);
    } finally {
      if (this.loading === controller) {
        this.loading = null;
        this.updateLoadMore();
      }
    }
  }

  /** A new image, shown first when the grid is unfiltered (filtered grids are left as they are). */
  prepend(image) {
    if (!this.filters || Object.values(this.filters).some(Boolean)) return;
    this.list.prepend(this.tile(image));
    this.count += 1;
    this.setStatus(this.summary());
  }

  tile(image) {
    return tile(image, this.filters, this.pictures, { onFilter: this.onFilter, width: this.tileWidth() });
  }

  /** How wide tiles are drawn, in CSS pixels: the grid's columns (gallery.css), which it
   * lays out before it holds any tile; 256 while it is not shown. */
  tileWidth() {
    const column = parseFloat(getComputedStyle(this.list).gridTemplateColumns);
    return column > 0 ? column : 256;
  }

  /** The link of a shown tile, to give focus back to when leaving an image. */
  linkOf(guid) {
    const found = [...this.list.children].find((item) => item.dataset.guid === guid);
    return found ? found.querySelector("a") : null;
  }

  updateLoadMore() {
    this.loadMore.hidden = !this.next;
    this.loadMore.textContent = this.failed ? "Try again" : "Load more";
    this.nearEnd.disconnect();
    // Observing anew reports at once whether the end is still near (a short first page).
    if (this.next && !this.failed) this.nearEnd.observe(this.loadMore);
  }

  summary() {
    if (!this.count) return Object.values(this.filters).some(Boolean) ? "No images match these filters." : "No images yet.";
    const images = this.count === 1 ? "1 image" : `${this.count} images`;
    return this.next ? `Showing ${images}; more load as you scroll.` : `All ${images} shown.`;
  }

  setStatus(text) {
    this.status.textContent = text;
  }

  drawFilters() {
    const active = Object.entries(this.filters).filter(([, value]) => value);
    if (!active.length) {
      this.filtersBar.replaceChildren();
      return;
    }
    const removeButtons = active.map(([name, value]) =>
      h(
        "button",
        {
          type: "button",
          class: "chip chip-active",
          "aria-label": `Remove filter: ${FILTER_LABELS[name]} ${value}`,
          onclick: () => this.onFilter({ [name]: "" }),
        },
        `${FILTER_LABELS[name]}: `,
        h("strong", {}, value),
        " ✕",
      ),
    );
    fill(
      this.filtersBar,
      h("span", { class: "filters-label" }, "Filters:"),
      removeButtons,
      h("button", { type: "button", class: "link-button", onclick: () => this.onFilter({ q: "", tag: "", author: "" }) }, "Clear all"),
    );
  }
}
