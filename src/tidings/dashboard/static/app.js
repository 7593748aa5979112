// tidings dashboard: live updates over SSE, confirmations, JSON checks. No framework.
"use strict";
(function () {
  function liveRegion() {
    var el = document.getElementById("live");
    if (!el || !el.dataset.live || !window.EventSource) return;
    var source = new EventSource(el.dataset.live);
    source.addEventListener("update", function (ev) {
      var open = Array.prototype.map.call(el.querySelectorAll("details[open]"), function (d) {
        return d.querySelector("summary") ? d.querySelector("summary").textContent + "|" + indexOf(d) : "";
      });
      var picked = Array.prototype.map.call(el.querySelectorAll("input[name=run]:checked"), function (c) { return c.value; });
      el.innerHTML = ev.data;
      Array.prototype.forEach.call(el.querySelectorAll("input[name=run]"), function (c) {
        if (picked.indexOf(c.value) >= 0) c.checked = true;
      });
      Array.prototype.forEach.call(el.querySelectorAll("details"), function (d) {
        var key = d.querySelector("summary") ? d.querySelector("summary").textContent + "|" + indexOf(d) : "";
        if (open.indexOf(key) >= 0) d.open = true;
      });
      el.dataset.updated = String(Number(el.dataset.updated || 0) + 1);
      bindConfirm(el);
    });
    source.addEventListener("problem", function () { source.close(); });
    function indexOf(d) { return Array.prototype.indexOf.call(el.querySelectorAll("details"), d); }
  }
  function bindConfirm(root) {
    Array.prototype.forEach.call(root.querySelectorAll("form[data-confirm]"), function (form) {
      if (form.dataset.bound) return;
      form.dataset.bound = "1";
      form.addEventListener("submit", function (ev) {
        if (!window.confirm(form.dataset.confirm)) ev.preventDefault();
      });
    });
  }
  function bindBulk() {
    var form = document.getElementById("bulk-form");
    if (!form) return;
    form.addEventListener("submit", function (ev) {
      var button = ev.submitter;
      if (!button) return;
      var picked = document.querySelectorAll("input[name=run][form=bulk-form]:checked").length;
      if (button.hasAttribute("data-needs-selection")) {
        if (!picked) { ev.preventDefault(); window.alert("Select runs first."); return; }
        if (!window.confirm(button.textContent + ": " + picked + " run" + (picked === 1 ? "" : "s") + "?")) ev.preventDefault();
      } else if (button.dataset.confirmFilter && !window.confirm(button.dataset.confirmFilter)) {
        ev.preventDefault();
      }
    });
  }
  function bindJson() {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-json]"), function (form) {
      var field = form.elements[form.dataset.json];
      var hint = form.querySelector("[data-json-error]");
      function check() {
        var text = field.value.trim();
        try { if (text) JSON.parse(text); hint.textContent = ""; field.removeAttribute("aria-invalid"); return true; }
        catch (e) { hint.textContent = "Not valid JSON: " + e.message; field.setAttribute("aria-invalid", "true"); return false; }
      }
      field.addEventListener("input", check);
      form.addEventListener("submit", function (ev) { if (!check()) { ev.preventDefault(); field.focus(); } });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    bindConfirm(document);
    bindJson();
    bindBulk();
    liveRegion();
  });
})();
