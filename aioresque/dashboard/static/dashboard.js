// aioresque dashboard: live refresh, select-all and confirmations. No build step, no CDN.
(function () {
  "use strict";
  var seconds = Number(document.body.dataset.refresh || 3);
  var toggle = document.getElementById("live-toggle");

  function busy() {
    // A job page that follows its job's events is live already: no reload under it.
    if (document.body.dataset.streaming) return true;
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

  // The job page of an unfinished job: its events as they happen (Server-Sent Events).
  var timeline = document.getElementById("timeline");
  if (timeline && timeline.dataset.events && window.EventSource) {
    var source = new EventSource(timeline.dataset.events);
    document.body.dataset.streaming = "1";
    var bar = document.getElementById("job-progress");
    var label = document.getElementById("job-progress-message");
    var add = function (kind, data) {
      var item = document.createElement("li");
      item.className = "event event-" + kind;
      var name = document.createElement("b");
      name.textContent = kind;
      item.appendChild(name);
      var detail = data.message || data.error || (data.attempt ? "attempt " + data.attempt : "");
      item.appendChild(document.createTextNode(" " + new Date(data.at).toLocaleTimeString() + (detail ? " · " + detail : "")));
      timeline.appendChild(item);
    };
    ["started", "progress", "retrying", "completed", "failed", "dead", "cancelled", "gone"].forEach(function (kind) {
      source.addEventListener(kind, function (e) {
        var data = JSON.parse(e.data);
        if (kind === "progress" && bar) {
          bar.value = data.value;
          if (label) label.textContent = Math.round(data.value * 100) + " %" + (data.message ? " · " + data.message : "");
          var last = timeline.lastElementChild;
          if (last && last.classList.contains("event-progress")) timeline.removeChild(last);  // one line for the latest
        }
        if (kind === "completed" && bar) bar.value = 1;
        // The running attempt's start is in the timeline already (rendered with the page).
        if (kind === "started" && data.attempt <= Number(timeline.dataset.shownAttempt || 0)) return;
        add(kind, data);
        if (["completed", "failed", "dead", "cancelled", "gone"].indexOf(kind) >= 0) {
          source.close();
          document.body.dataset.finished = kind;
        }
      });
    });
  }
})();
