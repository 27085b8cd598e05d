// The image page: the full picture, what is known about it, a download button, a curl
// command to fetch it, and for a signed-in caller the controls to change or delete it.

import { getImageAndTag } from "./api.js";
import { token } from "./auth.js";
import { fill, h, truncate } from "./dom.js";
import { manageControls } from "./manage.js";
import { Pictures, contentUrl } from "./images.js";
import { authorControl, tagList } from "./tiles.js";

const TITLE_CHARS = 80;

export class ImageView {
  constructor({ container, onFilter, onChanged }) {
    this.container = container;
    this.onFilter = onFilter;
    this.onChanged = onChanged; // an image was changed or deleted: lists are stale
    this.pictures = new Pictures();
    this.guid = null;
    this.request = null;
  }

  /** Show one image; resolves once it is drawn (or its absence is). */
  async show(guid) {
    this.request?.abort();
    const controller = new AbortController();
    this.request = controller;
    this.pictures.release();
    this.guid = guid;
    fill(this.container, h("h1", { id: "image-title", tabindex: "-1" }, "Loading the image…"));
    try {
      const { image, etag } = await getImageAndTag(guid, controller.signal);
      if (controller.signal.aborted) return;
      document.title = `${truncate(image.prompt, TITLE_CHARS)} — PixyProxy`;
      fill(this.container, await this.detail(image, etag));
    } catch (error) {
      if (controller.signal.aborted) return;
      document.title = "Image not found — PixyProxy";
      const title = error.status === 404 || error.status === 422 ? "Image not found" : "The image could not be loaded";
      fill(
        this.container,
        h("h1", { id: "image-title", tabindex: "-1" }, title),
        h("p", { class: "status" }, error.message),
      );
    }
  }

  /** Leave the page: stop loading and free the picture. */
  clear() {
    this.request?.abort();
    this.pictures.release();
    this.guid = null;
    this.container.replaceChildren();
  }

  focusTitle() {
    document.getElementById("image-title")?.focus();
  }

  /** After an edit: the image as it is now, the caller told where the focus was. */
  async saved({ image, etag }) {
    this.onChanged();
    this.pictures.release();
    fill(this.container, await this.detail(image, etag));
    document.getElementById("manage-status").textContent = "Saved.";
    document.getElementById("edit-save").focus();
  }

  deleted() {
    this.onChanged();
    this.pictures.release();
    document.title = "Image deleted — PixyProxy";
    fill(
      this.container,
      h("h1", { id: "image-title", tabindex: "-1" }, "Image deleted"),
      h("p", { class: "status", role: "status" }, "The image and its files are gone."),
    );
    this.focusTitle();
  }

  async detail(image, etag) {
    const img = h("img", { class: "full", alt: image.prompt, width: image.width, height: image.height });
    const download = h("a", { class: "button", href: contentUrl(image), download: image.filename }, "Download PNG");
    if (image.private) {
      try {
        const objectUrl = await this.pictures.objectUrl(contentUrl(image));
        img.src = objectUrl;
        download.href = objectUrl;
      } catch {
        img.classList.add("broken");
      }
    } else {
      img.src = contentUrl(image);
    }
    const command = curlCommand(image);
    const code = h("code", { id: "curl-command" }, command);
    const copyStatus = h("span", { class: "copy-status", role: "status" });
    return h(
      "article",
      { class: "detail" },
      h("h1", { id: "image-title", tabindex: "-1" }, truncate(image.prompt, TITLE_CHARS)),
      h("figure", { class: "picture" }, img),
      h(
        "dl",
        { class: "facts" },
        fact("Prompt", h("span", { class: "prompt" }, image.prompt)),
        fact("Tags", tagList(image.tags, this.onFilter) || "none"),
        fact("Author", authorControl(image.author, this.onFilter)),
        fact("Visibility", image.private ? h("span", { class: "badge" }, "Private") : "Public"),
        fact("Size", formatBytes(image.size_bytes)),
        fact("Dimensions", `${image.width} × ${image.height} px`),
        fact("Model", image.model),
        fact("Created", h("time", { datetime: image.created_at }, formatTime(image.created_at))),
      ),
      h("div", { class: "actions", id: "image-actions" }, download),
      token()
        ? manageControls(image, etag, {
            onSaved: (saved) => this.saved(saved),
            onDeleted: () => this.deleted(),
            onReload: () => this.show(image.guid).then(() => this.focusTitle()),
          })
        : null,
      h("h2", {}, "Fetch it with curl"),
      h("pre", { class: "command" }, code),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", onclick: () => copy(command, code, copyStatus) }, "Copy the command"),
        copyStatus,
      ),
    );
  }
}

function fact(term, value) {
  return [h("dt", {}, term), h("dd", {}, value)];
}

/** A shell-safe curl command for the image's bytes (a private image needs $TOKEN). */
export function curlCommand(image) {
  const url = new URL(contentUrl(image), window.location.origin).href;
  const auth = image.private ? `-H "Authorization: Bearer $TOKEN" ` : "";
  return `curl -fsS ${auth}-o ${shellQuote(image.filename)} ${shellQuote(url)}`;
}

function shellQuote(text) {
  return `'${text.replace(/'/g, "'\\''")}'`;
}

async function copy(command, code, status) {
  try {
    await navigator.clipboard.writeText(command);
    status.textContent = "Copied.";
  } catch {
    const range = document.createRange();
    range.selectNodeContents(code);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    status.textContent = "Selected: press Ctrl+C to copy.";
  }
}

export function formatBytes(bytes) {
  const exact = `${bytes.toLocaleString("en")} bytes`;
  if (bytes < 1024) return exact;
  const units = ["KiB", "MiB", "GiB"];
  let value = bytes;
  let unit = -1;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]} (${exact})`;
}

function formatTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}
