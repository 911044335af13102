// The admin's one way of asking "are you sure?": a <dialog> in the page's own style, for
// every hx-confirm (Promote, Roll back, Delete), instead of the browser's native confirm().
// The form's data-confirm-button names the button that goes ahead. Esc or Cancel keeps
// everything as it was; the dialog is modal, so the keyboard stays in it while it is open,
// and the focus goes back to the button that asked when it closes.
(function () {
  "use strict";

  var dialog = null;
  var pending = null;         // the htmx request waiting for an answer
  var asker = null;           // the element that asked, to take the focus back

  function build() {
    dialog = document.createElement("dialog");
    dialog.className = "confirm";
    dialog.setAttribute("aria-labelledby", "confirm-text");
    dialog.innerHTML = '<form method="dialog"><p id="confirm-text" class="confirm-text"></p>' +
      '<div class="confirm-actions"><button value="cancel" class="button" data-testid="confirm-cancel"></button>' +
      '<button value="ok" class="button is-primary" data-testid="confirm-ok"></button></div></form>';
    // The buttons' words in the page's language: base.html puts them on <body data-text-*>.
    dialog.querySelector("[value=cancel]").textContent = document.body.dataset.textCancel || "Cancel";
    document.body.appendChild(dialog);
    dialog.addEventListener("close", function () {
      var go = dialog.returnValue === "ok" && pending;
      var request = pending;
      pending = null;
      if (asker && document.contains(asker)) asker.focus();
      if (go) request(true);
    });
  }

  document.body.addEventListener("htmx:confirm", function (e) {
    if (!e.detail.question) return;          // no hx-confirm: nothing to ask
    e.preventDefault();
    if (!dialog) build();
    var form = e.detail.elt.closest("[data-confirm-button]") || e.detail.elt;
    dialog.querySelector(".confirm-text").textContent = e.detail.question;
    dialog.querySelector("[value=ok]").textContent =
      form.getAttribute("data-confirm-button") || document.body.dataset.textGoAhead || "Go ahead";
    pending = e.detail.issueRequest;
    asker = document.activeElement;
    dialog.returnValue = "";
    dialog.showModal();
    dialog.querySelector("[value=cancel]").focus();
  });
})();
