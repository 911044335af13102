/* The review queue from the keyboard (templates/admin/review.html).

   j / k (or ↓ / ↑) move the focus between samples; a, r and u press the focused sample's
   Accept, Reject and Undo; A and R press "Accept / Reject this page". After a decision
   the focus moves on to the next sample still undecided, so a run of a-a-r-a works
   through the page. Every button is a plain form too: without this file, Tab and Enter
   do the same. */
(function () {
  "use strict";

  function items() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-review-item]"));
  }

  function current() {
    var focused = document.activeElement;
    return focused && focused.closest ? focused.closest("[data-review-item]") : null;
  }

  function focusItem(item) {
    if (item) {
      item.focus();
      item.scrollIntoView({block: "nearest"});
    }
  }

  function move(step) {
    var all = items();
    if (!all.length) return;
    var index = all.indexOf(current());
    focusItem(all[index < 0 ? 0 : Math.min(Math.max(index + step, 0), all.length - 1)]);
  }

  function nextUndecided(item) {
    var all = items();
    var index = all.indexOf(item);
    for (var i = index + 1; i < all.length; i++) {
      if (!all[i].hasAttribute("data-decided")) return all[i].id;
    }
    for (var j = index - 1; j >= 0; j--) {
      if (!all[j].hasAttribute("data-decided")) return all[j].id;
    }
    return item ? item.id : null;
  }

  var focusAfterSwap = null;

  function press(item, key) {
    var button = (item || document).querySelector('button[data-key="' + key + '"]');
    if (!button) return;
    focusAfterSwap = item ? (key === "u" ? item.id : nextUndecided(item)) : "first";
    button.click();
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target.closest && target.closest("input, select, textarea")) return;
    if (!document.querySelector("[data-review-item]")) return;
    var key = event.key;
    if (key === "j" || key === "ArrowDown") move(1);
    else if (key === "k" || key === "ArrowUp") move(-1);
    else if (key === "a" || key === "r" || key === "u") {
      var item = current();
      if (!item) return;
      press(item, key);
    } else if (key === "A" || key === "R") press(null, key);
    else return;
    event.preventDefault();
  });

  // A click on a sample's own button moves the focus on the same way.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-review-item] button[data-key]");
    if (button && focusAfterSwap === null) {
      var item = button.closest("[data-review-item]");
      focusAfterSwap = button.getAttribute("data-key") === "u" ? item.id : nextUndecided(item);
    }
  }, true);

  document.addEventListener("htmx:afterSettle", function () {
    if (focusAfterSwap === null) return;
    var id = focusAfterSwap;
    focusAfterSwap = null;
    focusItem(id === "first" ? items()[0] : document.getElementById(id));
  });
})();
