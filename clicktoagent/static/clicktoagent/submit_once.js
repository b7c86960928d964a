// Forms marked data-submit-once are sent at most once per page load: a double click
// (or an impatient second click) does not post the form again. The server also
// recognises a repeated submission by its one-time token and dials nobody twice.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-submit-once")) {
      return;
    }
    if (form.dataset.submitted === "true") {
      event.preventDefault();
      return;
    }
    form.dataset.submitted = "true";
    // Disable the buttons only after the browser has collected the form data.
    window.setTimeout(function () {
      form.querySelectorAll("[type=submit]").forEach(function (button) {
        button.disabled = true;
      });
    }, 0);
  });
  // Coming back with the back button restores the page from cache: allow a new submit.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) {
      return;
    }
    document.querySelectorAll("form[data-submit-once]").forEach(function (form) {
      delete form.dataset.submitted;
      form.querySelectorAll("[type=submit]").forEach(function (button) {
        button.disabled = false;
      });
    });
  });
})();
