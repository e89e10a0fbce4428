// What htmx cannot do: show each UTC time in the reader's own zone on hover.
(function () {
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      if (!el.title) el.title = new Date(el.getAttribute("datetime")).toLocaleString() + " (your time)";
    });
  }
  document.addEventListener("DOMContentLoaded", function () { localTimes(document); });
  document.addEventListener("htmx:afterSettle", function (e) { localTimes(e.target); });
})();
