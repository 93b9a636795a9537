/* Crisis Care Service Finder: the search page's enhancements. The page works without this file.
 * - the search form updates the page in place (fetching the same server-rendered page);
 * - "Use my location" (rounded to about 100 m before it leaves the device);
 * - inside a frame, tells the embedding page its height (embed.js listens). Only the height is sent. */
(function () {
  "use strict";

  var embedded = window.parent !== window;
  var lastHeight = 0;

  function reportHeight(force) {
    if (!embedded) return;
    var page = document.querySelector(".sf-page");
    if (!page) return;
    var height = Math.ceil(page.getBoundingClientRect().height);
    if (!force && height === lastHeight) return;
    lastHeight = height;
    // The height is not private: any embedding page may read it.
    window.parent.postMessage({ type: "service-finder:height", height: height }, "*");
  }

  function enhance() {
    var locate = document.querySelector("[data-sf-locate]");
    if (locate && "geolocation" in navigator) locate.hidden = false;
    reportHeight(false);
  }

  function say(text) {
    var status = document.getElementById("sf-locate-status");
    if (status) status.textContent = text;
  }

  function show(html, url) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var fresh = doc.getElementById("sf-app");
    var current = document.getElementById("sf-app");
    if (!fresh || !current) {
      window.location.assign(url);
      return;
    }
    current.replaceWith(document.importNode(fresh, true));
    document.title = doc.title;
    window.history.replaceState(null, "", url);
    enhance();
    var target = document.querySelector(".nhsuk-error-summary") || document.getElementById("results-heading");
    if (target) target.focus();
  }

  function submit(form, extra) {
    var params = new URLSearchParams(new FormData(form));
    (extra || []).forEach(function (pair) {
      params.set(pair[0], pair[1]);
    });
    var url = form.action.split("?")[0] + "?" + params.toString();
    if (!window.fetch || !window.DOMParser) {
      window.location.assign(url);
      return;
    }
    form.setAttribute("aria-busy", "true");
    window
      .fetch(url, { credentials: "omit", headers: { Accept: "text/html" } })
      .then(function (response) {
        return response.text();
      })
      .then(function (html) {
        show(html, url);
      })
      .catch(function () {
        // Offline or the server failed: fall back to an ordinary page load, which shows what went wrong.
        window.location.assign(url);
      });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-sf-search]")) return;
    event.preventDefault();
    submit(form, []);
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-sf-locate]");
    if (!button) return;
    event.preventDefault();
    var form = button.form;
    say("Finding your location…");
    navigator.geolocation.getCurrentPosition(
      function (position) {
        say("");
        form.elements.postcode.value = "";
        submit(form, [
          ["lat", position.coords.latitude.toFixed(3)],
          ["lon", position.coords.longitude.toFixed(3)]
        ]);
      },
      function () {
        say("Your location could not be found. Enter your postcode instead.");
      },
      { timeout: 15000, maximumAge: 300000 }
    );
  });

  if (embedded) {
    window.addEventListener("load", function () {
      reportHeight(true);
    });
    window.addEventListener("resize", function () {
      reportHeight(false);
    });
    window.addEventListener("message", function (event) {
      if (event.source === window.parent && event.data && event.data.type === "service-finder:measure") {
        reportHeight(true);
      }
    });
    if ("ResizeObserver" in window) {
      new window.ResizeObserver(function () {
        reportHeight(false);
      }).observe(document.body);
    }
    // <details> opening and closing changes the height without resizing the window.
    document.addEventListener("toggle", function () { reportHeight(false); }, true);
  }

  enhance();
})();
