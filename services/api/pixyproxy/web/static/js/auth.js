// The signed-in caller's token: in sessionStorage (this tab only, gone when it closes) and
// sent as the Authorization header. No cookies, so other sites cannot make requests on
// the caller's behalf.

const KEY = "pixyproxy.token";
const changes = new EventTarget();

export function token() {
  return sessionStorage.getItem(KEY);
}

export function signIn(value) {
  sessionStorage.setItem(KEY, value);
  changes.dispatchEvent(new Event("change"));
}

/** Forget the token; `reason` says why when it was not the caller's choice. */
export function signOut(reason = "") {
  if (token() === null) return;
  sessionStorage.removeItem(KEY);
  changes.dispatchEvent(new CustomEvent("change", { detail: { reason } }));
}

export function onChange(listener) {
  changes.addEventListener("change", listener);
}

/** The token's subject, for display only: the server alone decides what the token is worth. */
export function subjectOf(value) {
  try {
    const payload = value.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = new TextDecoder().decode(Uint8Array.from(atob(payload), (c) => c.charCodeAt(0)));
    const subject = JSON.parse(json).sub;
    return typeof subject === "string" ? subject : null;
  } catch {
    return null;
  }
}
