// Probe the drawing (templates/partials/_probe.html) and draw over a dream
// (templates/partials/_dreams.html).
//
// Each change is kept as a setting and applied, after the strokes, to every
// picture static/draw.js paints (the pad on screen and the PNG it sends), so
// the reading and the bars follow at once and the user can keep drawing:
// a dream under the strokes, then shift and rotation, thicker or thinner
// strokes (a min or max over shifted copies), specks of noise, and the parts
// rubbed out. Clear (or "Back to my drawing") drops them all.
(function () {
  "use strict";

  var SHIFT = 0.05;            // of the pad's side, per press
  var TURN = 10;               // degrees per press
  var SPECKS = 60;             // per press of "Add noise"
  var PAPER = "#ffffff";
  var INK = "#16181d";

  document.addEventListener("DOMContentLoaded", function () {
    var pad = window.digitsPad;
    var tools = document.querySelector("[data-testid=probe]");
    if (!pad || !tools) return;
    var stateText = document.getElementById("probe-state");
    var reset = tools.querySelector("[data-probe=reset]");
    var scratch = document.createElement("canvas");
    var seed = 1;
    var probe;

    function fresh() {
      probe = { dx: 0, dy: 0, turn: 0, width: 0, specks: [], erased: [], dream: null, image: null };
    }
    fresh();

    function random() {        // a small seeded generator: the same specks on every redraw
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    }

    function changed() {
      return probe.dx || probe.dy || probe.turn || probe.width || probe.specks.length ||
        probe.erased.length || probe.image;
    }

    // The ink's extent in pad units, for "rub out the top" and the like.
    function extent() {
      var box = probe.image ? [0.14, 0.14, 0.86, 0.86] : [1, 1, 0, 0];
      pad.strokes().forEach(function (points) {
        points.forEach(function (p) {
          box = [Math.min(box[0], p[0]), Math.min(box[1], p[1]),
                 Math.max(box[2], p[0]), Math.max(box[3], p[1])];
        });
      });
      if (box[0] > box[2]) return null;
      var half = pad.pen / 2;
      return [box[0] - half, box[1] - half, box[2] + half, box[3] + half];
    }

    function region(where) {
      var b = extent();
      if (!b) return null;
      var w = b[2] - b[0], h = b[3] - b[1];
      return {
        top: [b[0], b[1], w, h / 2], bottom: [b[0], b[1] + h / 2, w, h / 2],
        left: [b[0], b[1], w / 2, h], right: [b[0] + w / 2, b[1], w / 2, h],
        middle: [b[0] + w / 4, b[1] + h / 4, w / 2, h / 2]
      }[where];
    }

    // The sentence in the page's language: templates/partials/_probe.html puts each piece
    // on #probe-state as data-text-<name>, with {n} (and {digit}, {moves}) to fill in.
    function say(name, n, more) {
      var text = stateText.dataset["text" + name] || "";
      text = text.replace("{n}", n);
      for (var key in more || {}) text = text.replace("{" + key + "}", more[key]);
      return text;
    }
    function counted(name, n) { return say(name + (n === 1 ? "One" : "Many"), n); }

    function describe() {
      var parts = [];
      if (probe.dream !== null) parts.push(say("Dream", "", { digit: probe.dream }));
      if (probe.dx || probe.dy) {
        var x = Math.round(Math.abs(probe.dx) / SHIFT), y = Math.round(Math.abs(probe.dy) / SHIFT);
        parts.push(say("Shifted", "", { moves: [
          probe.dx ? say(probe.dx > 0 ? "Right" : "Left", x) : "",
          probe.dy ? say(probe.dy > 0 ? "Down" : "Up", y) : ""
        ].filter(Boolean).join(say("And", "")) }));
      }
      if (probe.turn) parts.push(say(probe.turn > 0 ? "RotatedRight" : "RotatedLeft", Math.abs(probe.turn)));
      if (probe.width) parts.push(counted(probe.width > 0 ? "Thicker" : "Thinner", Math.abs(probe.width)));
      if (probe.specks.length) parts.push(counted("Specks", probe.specks.length));
      if (probe.erased.length) parts.push(counted("Erased", probe.erased.length));
      stateText.textContent = parts.length
        ? say("Changed", "", { parts: parts.join(say("Comma", "")) }) : say("Unchanged", "");
      reset.disabled = !changed();
    }

    function apply() {
      describe();
      pad.changed();
      if (pad.strokes().length || probe.image) pad.send();
    }

    // Everything painted so far (strokes, dream) moved, turned, thickened; then noise and rubbing out.
    pad.afterPaint.push(function (c, side) {
      if (!changed()) return;
      if (probe.image) {
        c.globalCompositeOperation = "darken";         // ink of both: the darker of the two
        c.imageSmoothingEnabled = true;
        c.drawImage(probe.image, 0, 0, side, side);
        c.globalCompositeOperation = "source-over";
      }
      if (probe.dx || probe.dy || probe.turn || probe.width) {
        scratch.width = scratch.height = side;
        var s = scratch.getContext("2d");
        s.drawImage(c.canvas, 0, 0);
        c.fillStyle = PAPER;
        c.fillRect(0, 0, side, side);
        c.save();
        c.translate(side / 2 + probe.dx * side, side / 2 + probe.dy * side);
        c.rotate(probe.turn * Math.PI / 180);
        c.translate(-side / 2, -side / 2);
        c.drawImage(scratch, 0, 0);
        if (probe.width) {
          // Thicker: the darkest of copies shifted around a small circle; thinner: the lightest.
          c.globalCompositeOperation = probe.width > 0 ? "darken" : "lighten";
          var r = Math.abs(probe.width) * side * pad.pen / 6;
          for (var k = 0; k < 8; k++) {
            var a = k * Math.PI / 4;
            c.drawImage(scratch, r * Math.cos(a), r * Math.sin(a));
          }
        }
        c.restore();
      }
      probe.specks.forEach(function (p) {
        c.fillStyle = p[3] ? INK : PAPER;
        c.beginPath();
        c.arc(p[0] * side, p[1] * side, p[2] * side, 0, 2 * Math.PI);
        c.fill();
      });
      c.fillStyle = PAPER;
      probe.erased.forEach(function (r) {
        c.fillRect(r[0] * side, r[1] * side, r[2] * side, r[3] * side);
      });
    });

    pad.onClear.push(function () { fresh(); describe(); });
    pad.changedPicture = function () { return Boolean(changed()); };

    var actions = {
      noise: function () {
        for (var i = 0; i < SPECKS; i++) {
          probe.specks.push([random(), random(), 0.006 + 0.012 * random(), random() < 0.6]);
        }
      },
      thicker: function () { probe.width = Math.min(3, probe.width + 1); },
      thinner: function () { probe.width = Math.max(-3, probe.width - 1); },
      "rotate-left": function () { probe.turn -= TURN; },
      "rotate-right": function () { probe.turn += TURN; },
      left: function () { probe.dx -= SHIFT; },
      right: function () { probe.dx += SHIFT; },
      up: function () { probe.dy -= SHIFT; },
      down: function () { probe.dy += SHIFT; },
      reset: function () { fresh(); }
    };
    ["top", "bottom", "left", "right", "middle"].forEach(function (where) {
      actions["erase-" + where] = function () {
        var r = region(where);
        if (r) probe.erased.push(r);
      };
    });

    tools.addEventListener("click", function (e) {
      var button = e.target.closest("[data-probe]");
      if (!button || !actions[button.dataset.probe]) return;
      actions[button.dataset.probe]();
      apply();
    });

    // "Draw over the 3": the dream goes on the pad, under any strokes drawn from now on.
    document.addEventListener("click", function (e) {
      var button = e.target.closest ? e.target.closest("[data-draw-over]") : null;
      if (!button) return;
      var image = new Image();
      image.onload = function () {
        pad.clear();
        fresh();
        probe.dream = button.dataset.drawOver;
        probe.image = image;
        apply();
        document.getElementById("pad").scrollIntoView({ block: "nearest" });
      };
      image.src = button.dataset.src;
    });

    // Open beside a wide pad; on a phone it starts folded, so the reading stays near the pad.
    var details = document.getElementById("probe");
    if (details && window.matchMedia("(min-width: 860px)").matches) details.open = true;
    describe();
  });
})();
