// Where pictures come from. Public images load straight from their URL; private ones need
// the token, which an <img> cannot send, so they are fetched and shown from a blob: URL.

import { fetchBlob } from "./api.js";

/** The widths the API makes thumbnails in (`GET /image/{guid}/thumbnail?w=`). */
export const THUMBNAIL_WIDTHS = [128, 256, 512];

/**
 * The picture a tile `tileWidth` CSS pixels wide shows: the smallest thumbnail that fills
 * it on this screen. Tiles are square and crop (gallery.css), so a landscape picture fills
 * one by its height and needs to be wider by its aspect ratio.
 */
export function tileUrl(image, tileWidth) {
  const needed = tileWidth * devicePixelRatio * Math.max(1, image.width / image.height);
  const width = THUMBNAIL_WIDTHS.find((candidate) => candidate >= needed) ?? THUMBNAIL_WIDTHS.at(-1);
  return `/image/${image.guid}/thumbnail?w=${width}`;
}

/** The full picture on the image page, and what the download button saves. */
export const contentUrl = (image) => image.content_url;

/**
 * The pictures of one view (the grid, the image page). Private ones are fetched when they
 * come near the viewport; `release()` frees their memory when the view is redrawn or the
 * caller signs out, and drops the answers of fetches still on their way.
 */
export class Pictures {
  constructor() {
    this.objectUrls = new Set();
    this.pending = new Map(); // img -> url of private pictures not yet near the viewport
    this.epoch = 0;
    this.observer = new IntersectionObserver((entries) => this.onVisible(entries), {
      rootMargin: "600px",
    });
  }

  show(img, url, isPrivate) {
    if (!isPrivate) {
      img.src = url;
    } else if (img.loading === "lazy") {
      this.pending.set(img, url);
      this.observer.observe(img);
    } else {
      this.loadPrivate(img, url);
    }
  }

  /** A blob: URL of a private image's bytes, valid until `release()`. */
  async objectUrl(url) {
    const epoch = this.epoch;
    const blob = await fetchBlob(url);
    if (epoch !== this.epoch) throw new Error("released");
    const objectUrl = URL.createObjectURL(blob);
    this.objectUrls.add(objectUrl);
    return objectUrl;
  }

  release() {
    this.epoch += 1;
    this.observer.disconnect();
    this.pending.clear();
    for (const objectUrl of this.objectUrls) URL.revokeObjectURL(objectUrl);
    this.objectUrls.clear();
  }

  onVisible(entries) {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      this.observer.unobserve(entry.target);
      const url = this.pending.get(entry.target);
      this.pending.delete(entry.target);
      if (url) this.loadPrivate(entry.target, url);
    }
  }

  async loadPrivate(img, url) {
    try {
      img.src = await this.objectUrl(url);
    } catch {
      img.classList.add("broken"); // signed out meanwhile, or gone: the alt text stays
    }
  }
}
