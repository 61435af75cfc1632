// Draws every chart of a page with the vendored Chart.js (served by the app: no external
// host, no inline script). A chart is a <canvas data-chart="ID"> beside a
// <script type="application/json" id="ID"> holding its Chart.js configuration.
(function () {
  "use strict";
  function draw() {
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var source = document.getElementById(canvas.getAttribute("data-chart"));
      if (!source) return;
      var config = JSON.parse(source.textContent);
      config.options = Object.assign({ responsive: true, maintainAspectRatio: false,
                                       animation: false }, config.options || {});
      new window.Chart(canvas, config);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
