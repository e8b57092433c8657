// aioresque dashboard: live refresh, select-all and confirmations. No build step, no CDN.
(function () {
  "use strict";
  var seconds = Number(document.body.dataset.refresh || 3);
  var toggle = document.getElementById("live-toggle");

  function busy() {
    // Do not replace the page under someone who is selecting or typing.
    var live = document.getElementById("live");
    if (!live) return true;
    if (live.querySelector("input[type=checkbox]:checked")) return true;
    var active = document.activeElement;
    return !!(active && live.contains(active) && /INPUT|SELECT|TEXTAREA/.test(active.tagName));
  }

  function refresh() {
    if ((toggle && !toggle.checked) || document.hidden || busy()) return;
    var url = new URL(window.location.href);
    url.searchParams.delete("msg");
    fetch(url.toString(), { headers: { "X-Live-Refresh": "1" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html || busy()) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("live");
        var live = document.getElementById("live");
        if (fresh && live) {
          var flash = fresh.querySelector(".flash");
          if (flash && !flash.classList.contains("bad")) flash.remove();
          live.innerHTML = fresh.innerHTML;
          document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
        }
      })
      .catch(function () { /* the next tick tries again */ });
  }

  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t && t.classList && t.classList.contains("select-all")) {
      var table = t.closest("table");
      table.querySelectorAll("tbody input[type=checkbox]").forEach(function (box) { box.checked = t.checked; });
    }
  });

  document.addEventListener("click", function (e) {
    var button = e.target.closest ? e.target.closest("button[data-confirm]") : null;
    if (button && !window.confirm(button.dataset.confirm)) e.preventDefault();
  });

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) e.preventDefault();
  });

  if (seconds > 0) window.setInterval(refresh, seconds * 1000);
})();
