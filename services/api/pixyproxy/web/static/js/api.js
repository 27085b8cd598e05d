// The PixyProxy API over fetch: the token as the Authorization header, errors as the
// server's problem JSON (RFC 9457).

import { signOut, token } from "./auth.js";

/** An error answer: the problem JSON's fields, and Retry-After in seconds when sent. */
export class Problem extends Error {
  constructor(status, body, retryAfterS) {
    super(body.detail || body.title || `The server answered ${status}.`);
    this.status = status;
    this.code = body.code || null;
    this.errors = Array.isArray(body.errors) ? body.errors : [];
    this.requestId = body.request_id || null;
    this.retryAfterS = retryAfterS;
  }
}

/** A failure before any answer: the server is unreachable or the request was cut. */
export class NetworkError extends Error {}

async function request(path, { method = "GET", body, headers = {}, signal, bearer } = {}) {
  if (!path.startsWith("/") || path.startsWith("//")) throw new Error(`not a path of this origin: ${path}`);
  const sent = bearer ?? token();
  const allHeaders = { Accept: "application/json", ...headers };
  if (sent) allHeaders.Authorization = `Bearer ${sent}`;
  if (body !== undefined && !allHeaders["Content-Type"]) allHeaders["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: allHeaders,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      credentials: "omit",
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new NetworkError("The server could not be reached.");
  }
  if (response.ok) return response;
  const problem = new Problem(response.status, await problemBody(response), retryAfter(response));
  if (problem.status === 401 && sent && sent === token()) {
    // A refused token (expired, or the server's key changed) is dropped: the page goes on
    // as an anonymous caller and says why.
    signOut(`Signed out: ${problem.message}`);
  }
  throw problem;
}

async function problemBody(response) {
  try {
    const body = await response.json();
    return body && typeof body === "object" ? body : {};
  } catch {
    return { title: response.statusText };
  }
}

/** Retry-After in whole seconds (it may be seconds or an HTTP date), or null. */
export function retryAfter(response) {
  const value = response.headers.get("Retry-After");
  if (value === null) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** The target of `Link: <...>; rel="next"`, when it is a path of this origin. */
export function nextLink(response) {
  const header = response.headers.get("Link") || "";
  for (const part of header.split(",")) {
    const match = /^\s*<([^>]*)>\s*;\s*rel="?next"?\s*$/.exec(part);
    if (match && match[1].startsWith("/") && !match[1].startsWith("//")) return match[1];
  }
  return null;
}

/** The first page of the list for `filters` ({q, tag, author}), as a request path. */
export function listPath(filters, limit) {
  const query = new URLSearchParams();
  for (const name of ["q", "tag", "author"]) if (filters[name]) query.set(name, filters[name]);
  query.set("limit", String(limit));
  return `/image?${query}`;
}

/** One page of the list: {images, next} where next is the following page's path or null. */
export async function listPage(path, signal) {
  const response = await request(path, { signal });
  return { images: await response.json(), next: nextLink(response) };
}

export async function getImage(guid, signal) {
  return (await getImageAndTag(guid, signal)).image;
}

/** One image's detail and its ETag: what an edit or a delete names in If-Match. */
export async function getImageAndTag(guid, signal) {
  const response = await request(imagePath(guid), { signal });
  return { image: await response.json(), etag: response.headers.get("ETag") };
}

/** Change an image's tags or privacy (a JSON merge patch), if it is still `etag`. */
export async function editImage(guid, patch, etag) {
  const response = await request(imagePath(guid), {
    method: "PATCH",
    body: patch,
    headers: { "Content-Type": "application/merge-patch+json", ...(etag ? { "If-Match": etag } : {}) },
  });
  return { image: await response.json(), etag: response.headers.get("ETag") };
}

/** Delete an image, if it is still `etag`. */
export async function deleteImage(guid, etag) {
  await request(imagePath(guid), { method: "DELETE", headers: etag ? { "If-Match": etag } : {} });
}

function imagePath(guid) {
  return `/image/${encodeURIComponent(guid)}`;
}

export async function generate(body, idempotencyKey) {
  const response = await request("/image", {
    method: "POST",
    body,
    headers: { "Idempotency-Key": idempotencyKey },
  });
  return response.json();
}

/** A binary answer as a Blob, the token sent along (private images' content). */
export async function fetchBlob(path, signal) {
  return (await request(path, { signal, headers: { Accept: "*/*" } })).blob();
}

/** Whether the server accepts `value` as a token (a Problem when it does not). */
export async function checkToken(value) {
  await request("/image?limit=1", { bearer: value });
}

/** The dev token, where the page says the server hands one out. */
export async function devToken(path) {
  return (await request(path)).json();
}

/** A fresh key for one generation and its retries: a retry never generates twice. */
export function newIdempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
