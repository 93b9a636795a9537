/* Crisis Care Service Finder: sizes embedded search frames to their content.
 * Usage: <iframe data-service-finder src="https://SERVICE/embed" title="..."></iframe>
 *        <script src="https://SERVICE/embed.js" async></script>
 * Listens for height messages from frames of this service only; nothing else is read or sent. */
(function () {
  "use strict";

  var script = document.currentScript;
  var origin = new URL(script ? script.src : window.location.href).origin;
  var MIN = 200;
  var MAX = 20000;

  function frames() {
    return Array.prototype.slice.call(document.querySelectorAll("iframe[data-service-finder]"));
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== origin) return;
    var data = event.data;
    if (!data || data.type !== "service-finder:height") return;
    var height = Number(data.height);
    if (!isFinite(height)) return;
    height = Math.min(MAX, Math.max(MIN, Math.ceil(height)));
    frames().forEach(function (frame) {
      if (frame.contentWindow === event.source) {
        frame.style.height = height + "px";
        frame.setAttribute("height", String(height));
        frame.setAttribute("scrolling", "no");
      }
    });
  });

  function measure(frame) {
    try {
      frame.contentWindow.postMessage({ type: "service-finder:measure" }, origin);
    } catch (error) {
      /* not loaded yet: its load event asks again */
    }
  }

  // Frames that finished loading before this script ran have already sent their height: ask again.
  frames().forEach(function (frame) {
    frame.addEventListener("load", function () {
      measure(frame);
    });
    measure(frame);
  });
})();
