// What htmx cannot do on its own, and nothing else.
(function () {
  // Each UTC time in the reader's own zone, on hover.
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      if (!el.title) el.title = new Date(el.getAttribute("datetime")).toLocaleString() + " (your time)";
    });
  }
  document.addEventListener("DOMContentLoaded", function () { localTimes(document); });
  document.addEventListener("htmx:afterSettle", function (e) { localTimes(e.target); });

  // A live part that replaces itself (hx-swap="outerHTML") loses a change announced while
  // its own refetch is in flight: htmx queues that trigger on the old element, then drops it
  // when the swap removes the element. Keep it by id and fire it on the element that took
  // its place, so the screen always ends on the latest state.
  var missed = {};
  document.addEventListener("htmx:sseMessage", function (e) {
    var el = e.target;
    if (el.id && el.classList.contains("htmx-request")) missed[el.id] = e.detail.type;
  });
  document.addEventListener("htmx:afterSettle", function () {
    Object.keys(missed).forEach(function (id) {
      var el = document.getElementById(id);
      if (el && !el.classList.contains("htmx-request")) {
        var type = missed[id];
        delete missed[id];
        htmx.trigger(el, "sse:" + type);
      }
    });
  });

  // A live refresh must not undo what the operator was doing: boxes checked in a part that is
  // being refetched (holders picked for a retry) stay checked in what replaces it.
  var checked = {};
  document.addEventListener("htmx:beforeSwap", function (e) {
    var target = e.detail.target;
    if (!target || !target.id) return;
    checked[target.id] = Array.prototype.map.call(
      target.querySelectorAll("input[type=checkbox]:checked"),
      function (box) { return box.name + "=" + box.value; });
  });
  document.addEventListener("htmx:afterSwap", function (e) {
    var id = e.detail.target && e.detail.target.id;
    var keep = id && checked[id];
    delete checked[id];
    var root = id && document.getElementById(id);
    if (!keep || !keep.length || !root) return;
    root.querySelectorAll("input[type=checkbox]").forEach(function (box) {
      if (keep.indexOf(box.name + "=" + box.value) >= 0) box.checked = true;
    });
  });

  // Changes between the page's render and the stream's (re)connection were announced to no
  // one: when the stream opens, every live part refetches once.
  document.addEventListener("htmx:sseOpen", function () {
    document.querySelectorAll("[hx-trigger*='sse:']").forEach(function (el) {
      var first = /sse:([\w-]+)/.exec(el.getAttribute("hx-trigger"));
      if (first) htmx.trigger(el, "sse:" + first[1]);
    });
  });
})();
