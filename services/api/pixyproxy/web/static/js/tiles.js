// One image as a tile of the grid, and the pieces the tile and the image page share.

import { h, truncate } from "./dom.js";
import { tileUrl } from "./images.js";
import { stateUrl } from "./urlstate.js";

export const PROMPT_CHARS = 90;

/**
 * A tile `width` CSS pixels wide: the picture and its prompt open the image; tags and
 * author filter the grid.
 */
export function tile(image, filters, pictures, { onFilter, width }) {
  const img = h("img", {
    alt: image.prompt,
    width: image.width,
    height: image.height,
    loading: "lazy",
    decoding: "async",
  });
  pictures.show(img, tileUrl(image, width), image.private);
  return h(
    "li",
    { class: "tile", "data-guid": image.guid },
    h(
      "a",
      { class: "tile-link", href: stateUrl({ filters, image: image.guid }) },
      img,
      // The link's name is the picture's alt text, the whole prompt; this is its preview.
      h("span", { class: "tile-prompt", "aria-hidden": "true" }, truncate(image.prompt, PROMPT_CHARS)),
    ),
    h(
      "div",
      { class: "tile-meta" },
      image.private ? h("span", { class: "badge" }, "Private") : null,
      authorControl(image.author, onFilter),
    ),
    tagList(image.tags, onFilter),
  );
}

/** "by alice" with the name as a filter button, or "anonymous". */
export function authorControl(author, onFilter) {
  if (!author) return h("span", { class: "author" }, "anonymous");
  return h(
    "span",
    { class: "author" },
    "by ",
    h(
      "button",
      {
        type: "button",
        class: "link-button",
        title: `Show images by ${author}`,
        onclick: () => onFilter({ author }),
      },
      author,
    ),
  );
}

/** The tags as chips that filter the grid by that tag. */
export function tagList(tags, onFilter) {
  if (!tags.length) return null;
  return h(
    "ul",
    { class: "tags", "aria-label": "Tags" },
    tags.map((tag) =>
      h(
        "li",
        {},
        h(
          "button",
          { type: "button", class: "chip", title: `Show images tagged ${tag}`, onclick: () => onFilter({ tag }) },
          `#${tag}`,
        ),
      ),
    ),
  );
}
