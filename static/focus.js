// Keyboard focus across htmx swaps, on every page (templates/base.html).
//
// When an answer replaces the element that held the focus (the "Yes" button
// inside the correction row, a gallery card's Relabel, the Models table's Roll
// back), the browser drops the focus to <body>, and a keyboard or screen-reader
// user is thrown back to the top of the page. Here the focus goes instead to
// what replaced it: its [data-focus] element if it has one (a message saying
// what happened), else the new element itself, made focusable for the purpose.
(function () {
  "use strict";

  var lost = null;   // the id of the swap target that held the focus, until the swap is done

  document.body.addEventListener("htmx:beforeSwap", function (e) {
    var target = e.detail.target;
    lost = target && target.contains(document.activeElement) && target.id ? target.id : null;
  });

  document.body.addEventListener("htmx:afterSettle", function () {
    if (!lost) return;
    var id = lost;
    lost = null;
    var active = document.activeElement;
    if (active && active !== document.body && document.contains(active)) return;
    var swapped = document.getElementById(id) || document.querySelector("[data-focus-after='" + id + "']");
    if (!swapped) return;
    var into = swapped.querySelector("[data-focus]") || swapped;
    if (!into.hasAttribute("tabindex") && !/^(A|BUTTON|INPUT|SELECT|TEXTAREA)$/.test(into.tagName)) {
      into.setAttribute("tabindex", "-1");
    }
    into.focus({ preventScroll: false });
  });
})();
