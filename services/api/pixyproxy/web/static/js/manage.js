// Editing and deleting the image on the image page, for a signed-in caller. The page does
// not guess who may: it cannot know who is an admin, so every signed-in caller gets the
// controls and the server decides (403 names the rule for someone else's image). Each
// change names the state it was made on (If-Match): a change made elsewhere meanwhile
// answers 412, and the page offers to reload the image.

import { deleteImage, editImage } from "./api.js";
import { h, setFieldError } from "./dom.js";

/** The controls for `image` (whose state is `etag`); `onSaved({image, etag})` after an
 * edit, `onDeleted()` after a delete, `onReload()` when the caller asks for the new state. */
export function manageControls(image, etag, { onSaved, onDeleted, onReload }) {
  const tags = h("input", {
    id: "edit-tags",
    name: "tags",
    type: "text",
    value: image.tags.join(" "),
    autocomplete: "off",
    "aria-describedby": "edit-tags-help edit-tags-error",
  });
  const isPrivate = h("input", { id: "edit-private", name: "private", type: "checkbox" });
  isPrivate.checked = image.private;
  const status = h("p", { id: "manage-status", class: "status", role: "status" });
  const save = h("button", { type: "submit", id: "edit-save" }, "Save changes");
  const remove = h("button", { type: "button", id: "delete-image", class: "danger" }, "Delete image");
  const confirmBox = h("div", { id: "delete-confirm", class: "confirm", hidden: true });

  const report = (error) => {
    status.replaceChildren(error.message);
    if (error.status === 412) {
      const reload = h("button", { type: "button", id: "manage-reload", onclick: onReload }, "Reload the image");
      status.append(" ", reload);
      reload.focus();
    } else if (error.status === 422) {
      const tagError = error.errors.find((e) => e.loc.includes("tags"));
      if (tagError) {
        setFieldError(tags, tagError.msg);
        tags.focus();
      }
    }
  };

  const form = h(
    "form",
    {
      id: "manage-form",
      class: "manage",
      "aria-labelledby": "manage-title",
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        setFieldError(tags, "");
        status.replaceChildren("Saving…");
        const patch = { tags: tags.value.split(/[\s,]+/).filter(Boolean), private: isPrivate.checked };
        try {
          const saved = await editImage(image.guid, patch, etag);
          onSaved(saved);
        } catch (error) {
          report(error);
        }
      },
    },
    h("h2", { id: "manage-title" }, "Change or delete this image"),
    h("label", { for: "edit-tags" }, "Tags"),
    tags,
    h("p", { id: "edit-tags-help", class: "help" }, "Separated by spaces: letters, digits, - and _."),
    h("p", { id: "edit-tags-error", class: "field-error", hidden: true }),
    h("label", { class: "check" }, isPrivate, " Private: only its author sees it"),
    h("div", { class: "actions" }, save, remove),
    confirmBox,
    status,
  );

  remove.addEventListener("click", () => {
    const yes = h("button", { type: "button", id: "delete-yes", class: "danger" }, "Delete it for good");
    const no = h("button", { type: "button", id: "delete-no" }, "Keep it");
    confirmBox.replaceChildren(h("p", {}, "Delete this image and its files? This cannot be undone."), yes, no);
    confirmBox.hidden = false;
    no.addEventListener("click", () => {
      confirmBox.hidden = true;
      remove.focus();
    });
    yes.addEventListener("click", async () => {
      confirmBox.hidden = true;
      status.replaceChildren("Deleting…");
      try {
        await deleteImage(image.guid, etag);
        onDeleted();
      } catch (error) {
        report(error);
        if (error.status !== 412) remove.focus();
      }
    });
    no.focus();
  });
  return form;
}
