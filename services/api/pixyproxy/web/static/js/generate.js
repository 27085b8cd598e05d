// The generate form. A generation takes 10-120 s with OpenAI: it runs in the background
// while the rest of the page stays usable, showing progress and the time so far. Failures
// are read from the problem JSON: a 422 is shown next to its field, a 429 or 503 counts
// down its Retry-After, a 502 (or a lost connection) offers to try again. A retry sends the
// same Idempotency-Key and body, so it can never make a second image.

import { NetworkError, Problem, generate, newIdempotencyKey } from "./api.js";
import { h, fill, setFieldError } from "./dom.js";
import { stateUrl } from "./urlstate.js";

const FIELDS = ["prompt", "tags", "size", "private"];

export class GenerateForm {
  constructor({ form, progress, elapsed, status, submit, retry, onCreated, onSignInNeeded }) {
    this.form = form;
    this.progress = progress;
    this.elapsed = elapsed;
    this.status = status;
    this.submit = submit;
    this.retry = retry;
    this.onCreated = onCreated;
    this.onSignInNeeded = onSignInNeeded;
    this.fields = Object.fromEntries(FIELDS.map((name) => [name, form.elements[name]]));
    this.last = null; // {body, key} of the latest attempt, for "Try again"
    this.running = false;
    this.elapsedTimer = null;
    this.countdownTimer = null;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.start({ body: this.body(), key: newIdempotencyKey() });
    });
    retry.addEventListener("click", () => this.last && this.start(this.last));
  }

  body() {
    const tags = this.fields.tags.value.split(/[\s,]+/).filter(Boolean);
    return {
      prompt: this.fields.prompt.value,
      tags,
      size: this.fields.size.value,
      private: this.fields.private.checked,
    };
  }

  async start(attempt) {
    if (this.running) return;
    this.running = true;
    this.last = attempt;
    this.clearErrors();
    clearInterval(this.countdownTimer);
    this.submit.disabled = true;
    this.retry.hidden = true;
    this.showProgress(true);
    fill(this.status, "Generating the image. You can keep browsing meanwhile.");
    try {
      const image = await generate(attempt.body, attempt.key);
      this.last = null;
      this.fields.prompt.value = "";
      fill(
        this.status,
        "Done: ",
        h("a", { href: stateUrl({ filters: {}, image: image.guid }), id: "generated-link" }, "open the new image"),
        ".",
      );
      this.onCreated(image);
      this.submit.disabled = false;
    } catch (error) {
      this.failed(error);
    } finally {
      this.running = false;
      this.showProgress(false);
    }
  }

  failed(error) {
    if (error instanceof NetworkError) {
      this.offerRetry(`${error.message} Check the connection and try again.`);
    } else if (!(error instanceof Problem)) {
      this.offerRetry(`The generation failed: ${error.message}`);
    } else if (error.status === 422) {
      this.showInvalid(error);
    } else if (error.status === 401) {
      this.submit.disabled = false;
      fill(
        this.status,
        `${error.message} `,
        h("button", { type: "button", class: "link-button", onclick: () => this.onSignInNeeded() }, "Sign in"),
        " to generate images.",
      );
    } else if (error.retryAfterS !== null && (error.status === 429 || error.status >= 500)) {
      this.countDown(error.message, error.retryAfterS);
    } else if (error.status >= 500) {
      this.offerRetry(error.message);
    } else {
      this.submit.disabled = false;
      fill(this.status, error.message);
    }
  }

  /** A 422: the message next to each field it names, or above the form when none. */
  showInvalid(problem) {
    this.submit.disabled = false;
    this.last = null;
    const byField = new Map();
    for (const { loc = [], msg = "" } of problem.errors) {
      const name = loc[0] === "body" ? String(loc[1] ?? "") : "";
      if (FIELDS.includes(name) && !byField.has(name)) byField.set(name, msg.replace(/^Value error, /, ""));
    }
    if (!byField.size && problem.code === "prompt_rejected") byField.set("prompt", problem.message);
    for (const [name, message] of byField) setFieldError(this.fields[name], message);
    fill(this.status, byField.size ? "The image was not generated: fix the marked field." : problem.message);
    const first = FIELDS.find((name) => byField.has(name));
    if (first) this.fields[first].focus();
  }

  /** Busy or over the limit: wait out Retry-After, then the form (and "Try again") are back. */
  countDown(message, seconds) {
    const until = performance.now() + seconds * 1000;
    const remaining = h("span", { id: "generate-countdown" });
    fill(this.status, `${message} You can try again in `, remaining, ".");
    const tick = () => {
      const left = Math.max(0, Math.ceil((until - performance.now()) / 1000));
      remaining.textContent = `${left} s`;
      if (left === 0) {
        clearInterval(this.countdownTimer);
        this.submit.disabled = false;
        this.retry.hidden = !this.last;
        fill(this.status, `${message} You can try again now.`);
      }
    };
    tick();
    this.countdownTimer = setInterval(tick, 250);
  }

  offerRetry(message) {
    this.submit.disabled = false;
    this.retry.hidden = false;
    fill(this.status, message);
  }

  showProgress(on) {
    this.progress.hidden = !on;
    clearInterval(this.elapsedTimer);
    if (!on) return;
    const started = performance.now();
    this.elapsed.textContent = "0 s";
    this.elapsedTimer = setInterval(() => {
      this.elapsed.textContent = `${Math.floor((performance.now() - started) / 1000)} s`;
    }, 250);
  }

  clearErrors() {
    for (const field of Object.values(this.fields)) setFieldError(field, null);
  }
}
