"use strict";
// The admin's metadata rows (images/admin/widgets.py): add and remove rows, and keep the
// JSON box and the copy the server compares it with equal to the rows after each change of
// them, so the server takes the rows; a box edited by hand differs from its copy and wins.
document.addEventListener("DOMContentLoaded", () => {
  for (const widget of document.querySelectorAll(".metadata-rows")) {
    const body = widget.querySelector("tbody");
    const box = widget.querySelector("textarea");
    const shown = widget.querySelector("input[type=hidden]");
    const blank = body.rows[body.rows.length - 1].cloneNode(true);
    const value = (type, text) => {
      if (type === "number") return text.trim() === "" ? null : Number(text);
      if (type === "yes/no") return /^(yes|true)$/i.test(text.trim());
      return text;
    };
    const sync = () => {
      const metadata = {};
      for (const row of body.rows) {
        const [key, type, text] = row.querySelectorAll("input, select");
        if (key.value.trim()) metadata[key.value.trim()] = value(type.value, text.value);
      }
      const keys = Object.keys(metadata).sort();
      const sorted = Object.fromEntries(keys.map((key) => [key, metadata[key]]));
      box.value = shown.value = keys.length ? JSON.stringify(sorted, null, 2) : "";
    };
    for (const button of widget.querySelectorAll("button")) button.hidden = false;
    widget.addEventListener("input", (event) => event.target !== box && sync());
    widget.addEventListener("change", (event) => event.target !== box && sync());
    widget.querySelector(".metadata-add").addEventListener("click", () => {
      const row = blank.cloneNode(true);
      row.querySelector("button").hidden = false;
      body.append(row);
      row.querySelector("input").focus();
    });
    body.addEventListener("click", (event) => {
      const remove = event.target.closest(".metadata-remove");
      if (!remove) return;
      remove.closest("tr").remove();
      if (!body.rows.length) body.append(blank.cloneNode(true));
      sync();
    });
  }
});
