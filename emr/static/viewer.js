/* The report's photograph viewer: zoom and pan (Panzoom, vendor/), the heat-map
   layer's toggle and opacity, and a message where the PACS did not deliver. */
(function () {
  "use strict";

  var MAX_SCALE = 16;
  // Panzoom multiplies the scale by exp(step) at each step: here by the square
  // root of two, so that two clicks double it.
  var STEP = Math.LN2 / 2;

  function setTouchAction(panzoom, stage) {
    // Zoomed: drags pan the photograph; at full view: they scroll the page (phones).
    var value = panzoom.getScale() > 1.01 ? "none" : "pan-y";
    stage.style.touchAction = value;
    stage.parentElement.style.touchAction = value;
  }

  function setUpZoom(figure, stage) {
    var panzoom = window.Panzoom(stage, {
      maxScale: MAX_SCALE, minScale: 1, step: STEP, contain: "outside",
      panOnlyWhenZoomed: true, touchAction: "pan-y"
    });
    var scale = figure.querySelector(".viewer-scale");
    stage.addEventListener("panzoomchange", function () {
      setTouchAction(panzoom, stage);
      if (scale) { scale.textContent = Math.round(panzoom.getScale() * 100) + "%"; }
    });
    // Ctrl + wheel (a trackpad's pinch too) zooms; the wheel alone scrolls the page.
    stage.parentElement.addEventListener("wheel", function (event) {
      if (event.ctrlKey) { panzoom.zoomWithWheel(event); }
    }, { passive: false });
    var actions = {
      "in": function () { panzoom.zoomIn(); },
      "out": function () { panzoom.zoomOut(); },
      "reset": function () { panzoom.reset(); }
    };
    figure.querySelectorAll("[data-zoom]").forEach(function (button) {
      button.addEventListener("click", actions[button.getAttribute("data-zoom")]);
    });
  }

  function setUpOverlay(figure) {
    var overlay = figure.querySelector(".viewer-overlay");
    var toggle = figure.querySelector(".overlay-toggle");
    var slider = figure.querySelector(".overlay-opacity");
    if (!overlay || !toggle || !slider) { return; }
    var output = figure.querySelector(".overlay-opacity-value");
    function apply() {
      overlay.hidden = !toggle.checked;
      slider.disabled = !toggle.checked;
      overlay.style.opacity = String(slider.value / 100);
      if (output) { output.textContent = slider.value + "%"; }
    }
    toggle.addEventListener("change", apply);
    slider.addEventListener("input", apply);
    apply();
  }

  function setUpErrors(figure) {
    var message = figure.querySelector(".viewer-error");
    figure.querySelectorAll(".viewer-photo").forEach(function (img) {
      img.addEventListener("error", function () {
        if (message) { message.hidden = false; }
        img.hidden = true;
      });
    });
  }

  function setUp(figure) {
    var stage = figure.querySelector(".viewer-stage");
    var controls = figure.querySelector(".viewer-controls");
    setUpErrors(figure);
    if (!stage || !stage.querySelector("img") || typeof window.Panzoom !== "function") {
      return;
    }
    setUpZoom(figure, stage);
    setUpOverlay(figure);
    if (controls) { controls.hidden = false; }
  }

  document.querySelectorAll("figure.viewer").forEach(setUp);
}());
