// The clicktoagent call button ({% clicktoagent_button %}): posts to the app's call
// endpoint with the CSRF token, disables itself while the request runs and shows the
// outcome in place. No framework. Loaded once per page however many buttons it has.
(function () {
  "use strict";
  if (window.clicktoagentButtonReady) {
    return;
  }
  window.clicktoagentButtonReady = true;

  function newKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return b.toString(16).padStart(2, "0");
    }).join("");
  }

  function show(widget, text, state) {
    var outcome = widget.querySelector("[data-clicktoagent-outcome]");
    outcome.textContent = text;
    widget.setAttribute("data-state", state);
  }

  function describe(http, data) {
    if (data.status === "placed") {
      return ["Placed, sid " + data.sid, "placed"];
    }
    if (data.status === "pending" || data.status === "dispatching") {
      return ["Queued (attempt " + data.attempt + ")", "pending"];
    }
    var reason = data.reason || data.detail || "HTTP " + http;
    if (data.status === "unknown") {
      return ["Unknown outcome: " + reason, "unknown"];
    }
    return ["Not placed: " + reason, data.status || "error"];
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-clicktoagent-call]");
    if (!button) {
      return;
    }
    event.preventDefault();
    if (button.disabled || button.getAttribute("aria-busy") === "true") {
      return;
    }
    var widget = button.closest("[data-clicktoagent-widget]");
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    // The key names this click: a repeated request with it never dials twice.
    if (!button.dataset.key) {
      button.dataset.key = newKey();
    }
    show(widget, "Calling\u2026", "busy");
    fetch(button.dataset.url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "X-CSRFToken": button.dataset.csrf
      },
      body: JSON.stringify({token: button.dataset.token, idempotency_key: button.dataset.key})
    }).then(function (response) {
      return response.json().catch(function () {
        return null;
      }).then(function (data) {
        if (!data || !data.status || response.status >= 500) {
          // Not our endpoint's answer (a proxy's 502/504, a crashed worker): the first
          // request may still be placing the call, so keep the key for the next click.
          show(widget, "No clear answer (HTTP " + response.status + "): the call may " +
            "have been placed. Clicking again will not dial twice.", "unknown");
          return;
        }
        var shown = describe(response.status, data);
        show(widget, shown[0], shown[1]);
        // The request was answered: the next click is a new call.
        delete button.dataset.key;
      });
    }).catch(function () {
      // Keep the key: trying again cannot dial twice if the first request got through.
      show(widget, "Network error: the call may not have been placed. Try again.", "error");
    }).finally(function () {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    });
  });
})();
