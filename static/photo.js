// A photo of a digit on paper, read instead of a drawing (templates/partials/_photo.html).
//
// The form #photo holds the file in its field "image" and is sent by htmx on
// "chosen", like the canvas's #reader on "drawn": POST /predict with
// source=photo, the answer swapped into #reading. A phone's photo is larger
// than the upload limit, so one over MAX_BYTES or MAX_SIDE is drawn smaller
// first (createImageBitmap turns it upright by its EXIF tag; the server does the
// same for a photo sent as it is). After the reading, the photo as the network
// took it (cleaned, dark ink on white) becomes the drawing that "Yes" and the
// digit buttons send. A static file, no inline script: the page keeps its CSP.
(function () {
  "use strict";

  var MAX_BYTES = 480 * 1024;  // under the server's 512 KiB limit, with room for the form
  var MAX_SIDE = 1280;         // px: more than enough for a digit; the server works at ~140
  var QUALITY = 0.9;

  var form = document.getElementById("photo");
  var reader = document.getElementById("reader");
  if (!form || !reader) return;
  var field = form.elements.image;
  var camera = document.getElementById("photo-camera");
  form.querySelector(".photo-send").hidden = true;     // sent on choosing, no extra click

  function put(file) {
    var files = new DataTransfer();
    files.items.add(file);
    field.files = files.files;
  }

  // The page's count of readings, taken as soon as a photo is chosen (shrinking
  // it takes a moment): the answer echoes it, so the newest reading is known.
  function count() {
    var seq = Number(reader.elements.seq.value) + 1;
    reader.elements.seq.value = form.elements.seq.value = String(seq);
    document.dispatchEvent(new CustomEvent("digits:photo"));   // draw.js clears the pad
  }

  function send() {
    htmx.trigger(form, "chosen");
  }

  function shrink(file) {
    return createImageBitmap(file, { imageOrientation: "from-image" }).then(function (bitmap) {
      var scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(bitmap.width * scale);
      canvas.height = Math.round(bitmap.height * scale);
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      return new Promise(function (resolve) {
        canvas.toBlob(function (blob) {
          resolve(new File([blob], "photo.jpg", { type: "image/jpeg" }));
        }, "image/jpeg", QUALITY);
      });
    });
  }

  function chosen(input) {
    var file = input.files && input.files[0];
    if (!file) return;
    count();
    var small = file.size <= MAX_BYTES && /^image\/(jpeg|png)$/.test(file.type);
    (small ? Promise.resolve(file) : shrink(file)).then(function (upload) {
      if (input !== field || upload !== file) put(upload);
      if (input !== field) input.value = "";
      send();
    }, function () {
      send();                  // not an image the browser can read: the server says why
    });
  }

  field.addEventListener("change", function () { chosen(field); });
  if (camera) camera.addEventListener("change", function () { chosen(camera); });

  // The reading of a photo: its cleaned picture becomes the drawing the
  // teach buttons send (#reader's image), so a correction stores what was read.
  document.body.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail.requestConfig && e.detail.requestConfig.elt !== form) return;
    var kept = document.querySelector("#reading .photo-kept");
    if (kept) reader.elements.image.value = kept.getAttribute("src");
  });
})();
