// "Why this answer" and "One unit's arithmetic" (templates/partials/_explain.html).
//
// While "Explain as I draw" is on, every drawing the canvas sends at a pen-up
// (the form #reader, static/draw.js) carries two more fields: `explain` (the chosen
// digit, or "reading") and `unit` (the selected hidden unit, or empty for the
// strongest). The reading's answer then brings both panels along, swapped out
// of band, so they follow the pen in the same request. Changing a choice
// sends the drawing again. A static file: the page keeps its strict CSP.
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("reader");
    var toggle = document.getElementById("why-on");
    var choice = document.getElementById("why-digit");
    var panels = document.getElementById("why-panels");
    if (!form || !toggle || !choice || !window.digitsPad) return;
    var unit = "";               // the selected unit; "" is the strongest
    var refocus = null;          // the id of a panel button to focus again after its swap

    function chosenDigit() {
      var checked = choice.querySelector("input:checked");
      return checked ? checked.value : "reading";
    }

    function drawn() {
      return document.querySelector("#reader [name=image]").value !== "";
    }

    function ask() {
      if (drawn()) window.digitsPad.send();
    }

    function showState() {
      panels.hidden = !toggle.checked;
      choice.disabled = !toggle.checked;
    }

    // Not while a stroke is being drawn: those pictures go out every 150 ms and only
    // the reading and the bars follow them; the panels come with the pen-up's (and with
    // Undo, Clear, a probe, a new choice), so a slower answer never queues up the next.
    document.body.addEventListener("htmx:configRequest", function (e) {
      if (!window.digitsPad.isReader(e.detail.elt) || !toggle.checked || window.digitsPad.drawing()) return;
      e.detail.parameters.explain = chosenDigit();
      e.detail.parameters.unit = unit;
    });

    toggle.addEventListener("change", function () {
      showState();
      if (toggle.checked) ask();
    });
    choice.addEventListener("change", ask);

    // A unit opened in "Inside the network" (a click, Enter on the grid, or its
    // arrows) is the unit whose sums are shown.
    document.body.addEventListener("htmx:afterSwap", function (e) {
      if (e.detail.target.id === "neuron") {
        var opened = e.detail.target.querySelector(".neuron[data-unit]");
        if (opened && opened.dataset.unit !== unit) {
          unit = opened.dataset.unit;
          if (toggle.checked) ask();
        }
      }
    });

    // "← Unit j−1" and "Unit j+1 →" in the arithmetic panel open that unit as a
    // click on the grid would, so the grid, the weights panel and the sums agree.
    document.addEventListener("click", function (e) {
      var go = e.target.closest ? e.target.closest("[data-unit-go]") : null;
      if (!go) return;
      refocus = { id: go.id, unit: go.dataset.unitGo };
      var target = document.querySelector('a.unit[data-unit="' + go.dataset.unitGo + '"]');
      if (target) {
        target.dispatchEvent(new MouseEvent("click", { bubbles: true, cancelable: true }));
      }
    });

    // Once the panel shows the unit a button asked for, that button (same id, the
    // new panel's) gets the focus back, so Enter keeps walking through the units.
    document.body.addEventListener("htmx:afterSettle", function () {
      var sums = document.getElementById("unit-sum");
      if (!refocus || !sums || sums.dataset.unit !== refocus.unit) return;
      var again = document.getElementById(refocus.id) || sums.querySelector("[data-unit-go]");
      refocus = null;
      if (again) again.focus({ preventScroll: true });
    });

    showState();
  });
})();
