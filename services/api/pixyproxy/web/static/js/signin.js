// The sign-in dialog: paste a token, or (dev mode, on the developer's machine) take the dev
// token from the server. A token is tried on the list before it is kept, so a wrong one is
// refused here, next to the field, with the server's reason.

import { checkToken, devToken } from "./api.js";
import { signIn } from "./auth.js";
import { setFieldError } from "./dom.js";

export class SignInDialog {
  constructor({ dialog, form, field, devButton, cancel }) {
    this.dialog = dialog;
    this.field = field;
    this.devButton = devButton;
    this.devTokenPath = document.querySelector('meta[name="pixyproxy-dev-token"]')?.content || "";
    devButton.hidden = !this.devTokenPath;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.use(field.value.trim());
    });
    devButton.addEventListener("click", () => this.useDevToken());
    cancel.addEventListener("click", () => dialog.close());
  }

  open() {
    this.field.value = "";
    setFieldError(this.field, null);
    this.dialog.showModal();
    this.field.focus();
  }

  async useDevToken() {
    try {
      const { token } = await devToken(this.devTokenPath);
      await this.use(token);
    } catch (error) {
      setFieldError(this.field, `The dev token could not be had: ${error.message}`);
    }
  }

  async use(token) {
    if (!token) {
      setFieldError(this.field, "Paste a token first.");
      this.field.focus();
      return;
    }
    try {
      await checkToken(token);
    } catch (error) {
      setFieldError(this.field, `This token was refused: ${error.message}`);
      this.field.focus();
      return;
    }
    setFieldError(this.field, null);
    this.dialog.close();
    signIn(token);
  }
}
