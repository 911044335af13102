// The drawing pad and its live link to the network.
//
// Strokes are kept as lists of points in pad coordinates ([0, 1] on both
// axes), so the canvas can be redrawn sharply at any size and device pixel
// ratio, Undo is "drop the last stroke", and the picture sent to the server is
// always a 280×280 PNG whatever the screen. While a stroke is drawn the picture
// is sent about every SEND_EVERY_MS and once more at pen-up; htmx does the
// request (the form #reader, hx-sync "queue last"; a finished drawing may go by
// #reader-now instead, and an answer older than the one shown is dropped).
// A static file, no inline script: the page keeps a strict Content-Security-Policy.
(function () {
  "use strict";

  var PEN = 1 / 14;            // pen width as a fraction of the pad's side
  var EXPORT_SIDE = 280;       // pixels of the PNG sent to the server
  var SEND_EVERY_MS = 150;
  var INK = "#16181d";
  var PAPER = "#ffffff";

  // The page's own sentences in its language: base.html puts them on <body data-text-*>.
  function pageText(name) { return document.body.dataset["text" + name[0].toUpperCase() + name.slice(1)] || ""; }

  var pad = document.getElementById("pad");
  var form = document.getElementById("reader");
  if (!pad || !form) return;
  var ctx = pad.getContext("2d");
  var undoButton = document.getElementById("undo");
  var clearButton = document.getElementById("clear");
  var exportCanvas = document.createElement("canvas");
  exportCanvas.width = exportCanvas.height = EXPORT_SIDE;
  var exportCtx = exportCanvas.getContext("2d");

  var strokes = [];            // finished and current strokes: arrays of [x, y]
  var active = null;           // { id: pointerId, points: stroke being drawn }
  var seq = 0;                 // drawings sent so far; the server echoes it as data-seq
  var nextSendAt = 0;           // performance.now() before which a stroke waits to send
  var timer = null;
  var frame = 0;
  // What other scripts (static/probe.js) add to every picture after the strokes,
  // on screen and in the PNG sent alike: functions (context, side).
  var afterPaint = [];
  var onClear = [];            // functions called when the drawing is cleared

  // -- painting ----------------------------------------------------------------

  // Quadratic curves through the midpoints of successive points: smooth
  // strokes from the jagged samples a mouse or finger gives.
  function trace(c, points, side) {
    var x0 = points[0][0] * side, y0 = points[0][1] * side;
    c.beginPath();
    if (points.length === 1) {
      c.arc(x0, y0, c.lineWidth / 2, 0, 2 * Math.PI);
      c.fill();
      return;
    }
    c.moveTo(x0, y0);
    for (var i = 1; i < points.length - 1; i++) {
      var x = points[i][0] * side, y = points[i][1] * side;
      var nextX = points[i + 1][0] * side, nextY = points[i + 1][1] * side;
      c.quadraticCurveTo(x, y, (x + nextX) / 2, (y + nextY) / 2);
    }
    var last = points[points.length - 1];
    c.lineTo(last[0] * side, last[1] * side);
    c.stroke();
  }

  function paint(c, side) {
    c.fillStyle = PAPER;
    c.fillRect(0, 0, side, side);
    c.lineCap = c.lineJoin = "round";
    c.lineWidth = side * PEN;
    c.strokeStyle = c.fillStyle = INK;
    strokes.forEach(function (points) { trace(c, points, side); });
    afterPaint.forEach(function (change) { c.save(); change(c, side); c.restore(); });
  }

  function redraw() {
    frame = 0;
    paint(ctx, pad.width);
  }

  function requestRedraw() {
    if (!frame) frame = requestAnimationFrame(redraw);
  }

  // The backing store follows the displayed size times devicePixelRatio, so
  // strokes stay sharp on HiDPI screens and after zooming or rotating.
  function fitBackingStore() {
    var side = Math.round(pad.getBoundingClientRect().width * (window.devicePixelRatio || 1));
    if (side > 0 && pad.width !== side) {
      pad.width = pad.height = side;
    }
    redraw();
  }

  // -- sending -----------------------------------------------------------------

  // `finished`: the pen is up (or Undo, Clear): a class's page sends that drawing to the
  // board too (the form's field "final", on the class's page only).
  function send(finished) {
    clearTimeout(timer);
    timer = null;
    nextSendAt = performance.now() + SEND_EVERY_MS;
    paint(exportCtx, EXPORT_SIDE);
    seq = Number(form.elements.seq.value) + 1;   // photo.js counts its readings here too
    form.elements.seq.value = String(seq);
    form.elements.image.value = exportCanvas.toDataURL("image/png");
    if (form.elements.final) form.elements.final.value = finished === true ? "1" : "0";
    // A finished drawing does not queue behind a stroke's picture still being read: it
    // takes the other lane (#reader-now, which sends this form's fields) when this one is busy.
    htmx.trigger(finished === true && busy(form) && now ? now : form, "drawn");
  }

  // The two lanes' requests in flight; answers older than the reading shown are dropped.
  var now = document.getElementById("reader-now");
  function busy(lane) { return lane.dataset.busy === "1"; }
  [form, now].forEach(function (lane) {
    if (!lane) return;
    lane.addEventListener("htmx:beforeSend", function () { lane.dataset.busy = "1"; });
    lane.addEventListener("htmx:afterRequest", function () { lane.dataset.busy = ""; });
  });
  function isReader(elt) { return elt === form || (now !== null && elt === now); }

  // Two lanes' answers can arrive in either order. Each goes into the reading shown now
  // (htmx chose its target when it sent the request), unless it is older than that one.
  document.body.addEventListener("htmx:beforeOnLoad", function (e) {
    var shown = document.getElementById("reading");
    if (!isReader(e.detail.elt) || !shown) return;
    var answered = /data-seq="(\d+)"/.exec(e.detail.xhr.responseText);
    if (answered && Number(answered[1]) < Number(shown.dataset.seq)) {
      e.preventDefault();        // dropped: a newer drawing's reading is already shown
    } else {
      e.detail.target = shown;
    }
  });

  function sendSoon() {
    if (timer) return;
    timer = setTimeout(send, Math.max(0, nextSendAt - performance.now()));
  }

  function changed() {
    undoButton.disabled = strokes.length === 0;
    clearButton.disabled = strokes.length === 0 && !window.digitsPad.changedPicture();
    requestRedraw();
  }

  // -- pointer input (mouse, touch and pen alike) ---------------------------------

  function toPad(e) {
    var box = pad.getBoundingClientRect();
    return [Math.min(1, Math.max(0, (e.clientX - box.left) / box.width)),
            Math.min(1, Math.max(0, (e.clientY - box.top) / box.height))];
  }

  function addPoint(points, p) {
    var last = points[points.length - 1];
    var minStep = 0.5 / pad.getBoundingClientRect().width;
    if (Math.abs(p[0] - last[0]) >= minStep || Math.abs(p[1] - last[1]) >= minStep) points.push(p);
  }

  pad.addEventListener("pointerdown", function (e) {
    if (active || (e.pointerType === "mouse" && e.button !== 0)) return;
    e.preventDefault();
    pad.setPointerCapture(e.pointerId);
    active = { id: e.pointerId, points: [toPad(e)] };
    strokes.push(active.points);
    // A stroke's first picture goes out SEND_EVERY_MS in, not as a lone dot.
    nextSendAt = Math.max(nextSendAt, performance.now() + SEND_EVERY_MS);
    changed();
  });

  pad.addEventListener("pointermove", function (e) {
    if (!active || e.pointerId !== active.id) return;
    var samples = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
    (samples.length ? samples : [e]).forEach(function (s) { addPoint(active.points, toPad(s)); });
    requestRedraw();
    sendSoon();
  });

  function endStroke(e) {
    if (!active || e.pointerId !== active.id) return;
    active = null;
    send(true);
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);
  pad.addEventListener("contextmenu", function (e) { e.preventDefault(); });

  // -- Undo and Clear ---------------------------------------------------------------

  function undo() {
    if (active || !strokes.length) return;
    strokes.pop();
    changed();
    send(true);
  }

  function clear() {
    if (active || (!strokes.length && !window.digitsPad.changedPicture())) return;
    strokes = [];
    onClear.forEach(function (f) { f(); });
    changed();
    send(true);
  }

  // A photo was read instead (static/photo.js): the pad starts afresh, nothing sent.
  document.addEventListener("digits:photo", function () {
    if (active) return;
    strokes = [];
    changed();
  });

  undoButton.addEventListener("click", undo);
  clearButton.addEventListener("click", clear);
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    var command = e.ctrlKey || e.metaKey;
    if ((e.key === "Escape" || e.key === "Delete") && !command && !e.altKey) {
      e.preventDefault();
      clear();
    } else if (command && !e.shiftKey && !e.altKey && e.key.toLowerCase() === "z") {
      e.preventDefault();
      undo();
    }
  });

  // -- hidden units: value on hover and focus, weights on selection -------------------

  var selectedUnit = null;
  var focusedUnit = null;      // restored after a swap moves the grid

  function unitOf(el) { return el && el.closest ? el.closest("a.unit") : null; }

  function caption(grid) { return grid.closest(".units").querySelector(".unit-caption"); }

  function describe(unit) {
    var grid = unit.closest("svg");
    labelUnits(grid);            // labels still waiting for an idle moment: now
    var c = caption(grid);
    if (!c.dataset.text) c.dataset.text = c.textContent;
    c.textContent = pageText("selectUnit").replace("{unit}", unit.getAttribute("aria-label"));
  }

  function undescribe(unit) {
    var c = caption(unit.closest("svg"));
    if (c.dataset.text) c.textContent = c.dataset.text;
  }

  function markSelected() {
    document.querySelectorAll("a.unit.is-selected").forEach(function (u) {
      u.classList.remove("is-selected");
    });
    if (selectedUnit === null) return;
    var u = document.querySelector('a.unit[data-unit="' + selectedUnit + '"]');
    if (u) u.classList.add("is-selected");
  }

  function openUnit(unit) {
    selectedUnit = unit.dataset.unit;
    markSelected();
    htmx.ajax("GET", unit.getAttribute("href"), { target: "#neuron", swap: "innerHTML" });
  }

  document.addEventListener("click", function (e) {
    var unit = unitOf(e.target);
    if (!unit || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    openUnit(unit);
  });
  document.addEventListener("pointerover", function (e) {
    var unit = unitOf(e.target);
    if (unit) describe(unit);
  });
  document.addEventListener("pointerout", function (e) {
    var unit = unitOf(e.target);
    if (unit && !unit.contains(e.relatedTarget)) undescribe(unit);
  });
  document.addEventListener("focusin", function (e) {
    var unit = unitOf(e.target);
    focusedUnit = unit ? unit.dataset.unit : null;
    if (unit) describe(unit);
  });

  // One tab stop for the whole grid (a roving tabindex): arrow keys, Home and
  // End move between units, Enter and Space open the focused one.
  function focusUnit(unit) {
    unit.closest("svg").querySelectorAll('a.unit[tabindex="0"]').forEach(function (other) {
      other.setAttribute("tabindex", "-1");
    });
    unit.setAttribute("tabindex", "0");
    unit.focus({ preventScroll: true });
  }

  document.addEventListener("keydown", function (e) {
    var unit = unitOf(e.target);
    if (!unit) return;
    var units = unit.closest("svg").querySelectorAll("a.unit");
    var columns = Number(unit.closest("svg").dataset.columns);
    var moves = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -columns, ArrowDown: columns };
    var ends = { Home: 0, End: units.length - 1 };
    var i = Number(unit.dataset.unit);
    var next = e.key in moves ? i + moves[e.key] : e.key in ends ? ends[e.key] : null;
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      openUnit(unit);
    } else if (next !== null && next >= 0 && next < units.length) {
      e.preventDefault();
      focusUnit(units[next]);
    }
  });

  // -- live bars: numbers set on the grids the page already shows -----------------------
  //
  // The page draws the unit grids once. Each drawing sent says which layout the
  // page holds (#reading's data-grid); an answer for the same layout leaves the
  // grids where they are (the "reading" swap below) and carries the bars as
  // numbers on each section.units, set here as attributes: no tiles re-created,
  // no markup for them sent.

  var shownReading = document.getElementById("reading");

  // The drawing forms' swap (hx-swap="reading"). An answer for the layout the page
  // shows comes with its unit grids empty: the grids already on the page stay where
  // they are and only the rest of #reading is replaced around them. Moving a grid
  // (htmx's hx-preserve takes it out and puts it back) made the browser restyle,
  // lay out and repaint all of its thousands of elements on every answer: 15 of the
  // 20 ms an answer cost in the browser on a slow machine. Any other answer (another
  // layout, the page's first) replaces #reading whole, as outerHTML would.
  function keptGrid(old, next) {
    var grid = next.querySelector("svg.unit-grid");
    if (!grid || grid.firstElementChild) return null;
    var held = old.querySelector("svg.unit-grid");
    return held && held.id === grid.id && held.firstElementChild ? held : null;
  }

  // Sets on `to` the attributes `from` has (only those that differ: each change may
  // make the browser restyle); with `exact`, also removes the ones `from` lacks.
  function sameAttributes(from, to, exact) {
    if (exact) {
      Array.prototype.slice.call(to.attributes).forEach(function (a) {
        if (!from.hasAttribute(a.name)) to.removeAttribute(a.name);
      });
    }
    Array.prototype.forEach.call(from.attributes, function (a) {
      if (to.getAttribute(a.name) !== a.value) to.setAttribute(a.name, a.value);
    });
  }

  // The section of a unit grid: its heading, caption and numbers are the answer's,
  // its grid stays (its bars are set from the numbers by showBars). A caption naming
  // the unit under the pointer or the focus keeps doing so, and says the answer's
  // words again when the unit is left.
  function updateSection(old, next) {
    sameAttributes(next, old, true);
    var held = old.querySelector("svg.unit-grid");
    var describing = old.querySelector(".unit-caption[data-text]");
    var added = [];
    Array.prototype.slice.call(old.childNodes).forEach(function (n) {
      if (n !== held && n !== describing) n.remove();
    });
    var after = held;          // the grid itself is never moved: that would restyle it all
    Array.prototype.slice.call(next.childNodes).forEach(function (n) {
      if (n.nodeType === 1 && n.matches("svg.unit-grid")) {
        sameAttributes(n, held);
        after = describing;
      } else if (describing && n.nodeType === 1 && n.matches(".unit-caption")) {
        var naming = describing.textContent !== describing.dataset.text;
        describing.dataset.text = n.textContent;
        if (!naming) describing.textContent = n.textContent;
      } else {
        old.insertBefore(n, after);
        if (n.nodeType === 1) added.push(n);
      }
    });
    return added;
  }

  htmx.defineExtension("reading", {
    handleSwap: function (style, target, fragment, settleInfo) {
      if (style !== "reading") return false;
      var next = fragment.querySelector ? fragment.querySelector("#reading") : null;
      if (!next || !target.id || target.id !== "reading" || !keptGrid(target, next)) {
        var nodes = Array.prototype.slice.call(fragment.childNodes);
        target.replaceWith(fragment);
        settleInfo.elts = settleInfo.elts.filter(function (e) { return e !== target; });
        nodes.forEach(function (n) { if (n.nodeType === 1) settleInfo.elts.push(n); });
        return nodes;
      }
      sameAttributes(next, target, true);
      var old = Array.prototype.slice.call(target.children);
      var fresh = Array.prototype.slice.call(next.children);
      var added = [];
      fresh.forEach(function (child, i) {
        var was = old[i];
        if (was && was.matches("section.units") && child.matches("section.units") &&
            keptGrid(was, child)) {
          added = added.concat(updateSection(was, child));
        } else {
          if (was) was.replaceWith(child); else target.appendChild(child);
          added.push(child);
        }
      });
      old.slice(fresh.length).forEach(function (n) { n.remove(); });
      target.querySelectorAll("section.units").forEach(showBars);
      var verdict = document.getElementById("verdict");
      if (verdict && target.dataset.state) verdict.className = "verdict is-" + target.dataset.state;
      return added;
    }
  });

  document.body.addEventListener("htmx:configRequest", function (e) {
    if (!isReader(e.detail.elt)) return;
    var reading = document.getElementById("reading");
    if (reading && reading.dataset.grid) e.detail.parameters.grid = reading.dataset.grid;
  });

  // A section's numbers → its grid's two bar paths (every unit's bar, then the strongest
  // ones again on top) and the marks on the strongest units, as readout.Layer.svg writes
  // them: two attributes and a few classes per answer. The units' labels (their values,
  // for screen readers and the hover caption) follow when the browser is idle, after
  // the bars are on screen, and only where a value changed.
  function showBars(section) {
    var grid = section.querySelector("svg.unit-grid");
    if (!grid || !section.dataset.activations) return;
    var heights = section.dataset.heights.split(" ");
    var strong = section.dataset.strong ? section.dataset.strong.split(" ") : [];
    var units = grid.querySelectorAll(".unit");
    var starts = barStarts(grid, units.length);
    var width = grid.dataset.barWidth;
    var marked = {};
    strong.forEach(function (i) { marked[i] = true; });
    var every = new Array(Math.min(units.length, heights.length));
    for (var i = 0; i < every.length; i++) {
      every[i] = starts[i] + heights[i] + "h" + width + "v" + heights[i] + "z";
      var on = marked[i] === true;      // a class changed only where it changes
      if (units[i].classList.contains("is-strong") !== on) units[i].classList.toggle("is-strong", on);
    }
    var paths = grid.querySelectorAll("path.bars");
    if (paths.length === 2) {
      paths[0].setAttribute("d", every.join(""));
      paths[1].setAttribute("d", strong.map(function (i) { return every[i] || ""; }).join(""));
    }
    grid.pendingLabels = section.dataset.activations.split(" ");
    if (!grid.labelsAsked) {
      grid.labelsAsked = true;
      var later = window.requestIdleCallback || function (f) { return setTimeout(f, 50); };
      later(function () { labelUnits(grid); }, { timeout: 250 });
    }
  }

  // Where each unit's bar starts, "M x y v-": its cell's column and floor (the same for
  // every answer, so made once per grid).
  function barStarts(grid, count) {
    if (grid.barStarts && grid.barStarts.length === count) return grid.barStarts;
    var columns = Number(grid.dataset.columns);
    var floor = Number(grid.dataset.floor);
    var inset = (1 - Number(grid.dataset.barWidth)) / 2;
    grid.barStarts = [];
    for (var i = 0; i < count; i++) {
      grid.barStarts.push("M" + (i % columns + inset).toFixed(3) + " " +
        (Math.floor(i / columns) + floor).toFixed(3) + "v-");
    }
    return grid.barStarts;
  }

  // The units' labels from the latest answer's values, where they changed.
  function labelUnits(grid) {
    grid.labelsAsked = false;
    var values = grid.pendingLabels;
    if (!values) return;
    grid.pendingLabels = null;
    var units = grid.querySelectorAll(".unit");
    var unitLabel = pageText("unit");
    for (var i = 0; i < units.length && i < values.length; i++) {
      var label = unitLabel.replace("{unit}", i).replace("{value}", values[i]);
      if (units[i].getAttribute("aria-label") !== label) units[i].setAttribute("aria-label", label);
    }
  }

  // A new reading: set its bars, keep the selected unit marked and the
  // keyboard focus where it was.
  document.body.addEventListener("htmx:afterSwap", function (e) {
    var reading = document.getElementById("reading");
    if (reading && reading !== shownReading) {
      shownReading = reading;
      reading.querySelectorAll("section.units").forEach(showBars);
      // The verdict's contents arrive out of band into a #verdict that stays put (the
      // live region); its look (sure, unsure, error, blank) follows the reading's state.
      var verdict = document.getElementById("verdict");
      if (verdict && reading.dataset.state) verdict.className = "verdict is-" + reading.dataset.state;
    }
    // The unit's panel is brought into view only on one column (a phone), and only when none
    // of it shows, far below: scrolling a page whose panel already shows moves the grid under the
    // pointer, and the hover caption would then name another unit.
    if (e.detail.target.id === "neuron") {
      var box = e.detail.target.getBoundingClientRect();
      var oneColumn = window.matchMedia("(max-width: 859px)").matches;
      if (oneColumn && (box.top >= window.innerHeight || box.bottom <= 0)) {
        e.detail.target.scrollIntoView({ block: "nearest" });
      }
    }
    markSelected();
    var unit = focusedUnit === null ? null
      : document.querySelector('a.unit[data-unit="' + focusedUnit + '"]');
    if (unit && !unitOf(document.activeElement)) focusUnit(unit);
  });

  // -- when the server cannot answer ---------------------------------------------------

  function showProblem(text) {
    var verdict = document.querySelector("#verdict .verdict-text");
    if (verdict) verdict.textContent = text;
  }
  document.body.addEventListener("htmx:sendError", function () {
    showProblem(pageText("unreachable"));
  });
  document.body.addEventListener("htmx:responseError", function (e) {
    if (e.detail.xhr.status >= 500) showProblem(pageText("failed"));
  });

  // For the page's other scripts (static/explain.js, static/probe.js): send the
  // drawing again (a changed question about it, or a changed picture) and redraw.
  window.digitsPad = {
    afterPaint: afterPaint,
    onClear: onClear,
    send: send,
    isReader: isReader,        // the element sending a drawing: #reader or #reader-now
    clear: clear,
    changed: changed,          // the picture changed: redraw, and enable Clear if it shows ink
    changedPicture: function () { return false; },  // probe.js: true while its changes show
    strokes: function () { return strokes; },
    drawing: function () { return active !== null; },
    pen: PEN
  };

  new ResizeObserver(fitBackingStore).observe(pad);
  window.addEventListener("resize", fitBackingStore);
  fitBackingStore();
})();
