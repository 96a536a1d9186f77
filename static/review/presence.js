// presence.js: on the application page, who else has it open and whether it changed since
// the page was drawn (issue 20). Acts only where templates/review/_presence.html is.
//
// Asks the page's data-poll at once and then every 5 s while the tab is visible (the server
// forgets a reviewer 20 s after their last sign: support/workflow/presence.py), never
// while it is hidden. Each answer names the others; given the newest event the page shows
// (data-version) it also says what changed after it, and the page offers a reload (it
// never reloads by itself: the reviewer may be typing). Both live regions are rewritten
// only when what they say changes, so a screen reader hears each change once.
// When the tab is hidden or closed, a beacon tells the server the reviewer left, carrying
// the form's CSRF field and the mark of the last answer (a later page of theirs keeps them).
(function () {
  "use strict";
  var EVERY = 5000;
  var box = document.getElementById("presence");
  if (!box || !window.fetch) return;
  var url = box.getAttribute("data-poll");
  var version = box.getAttribute("data-version") || "0";
  var othersRegion = document.getElementById("presence-others");
  var changedRegion = document.getElementById("presence-changed");
  var leaveForm = box.querySelector("form.presence-leave");
  var timer = null;
  var stopped = false;
  var busy = false;
  var mark = "";

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  // "Also open by Ann (has claimed it), Bob and Cy.", as the template writes it.
  function othersLine(others) {
    if (!others.length) return null;
    var p = el("p", "presence-others", "Also open by ");
    others.forEach(function (other, i) {
      p.appendChild(el("strong", "", other.name));
      if (other.holds) p.appendChild(document.createTextNode(" (has claimed it)"));
      if (i < others.length - 2) p.appendChild(document.createTextNode(", "));
      else if (i === others.length - 2) p.appendChild(document.createTextNode(" and "));
    });
    p.appendChild(document.createTextNode("."));
    return p;
  }

  function changedLine(changed) {
    if (!changed) return null;
    var more = changed.count > 1 ? " and " + (changed.count - 1) + " more" : "";
    var p = el("p", "notice warning presence-changed",
      "This application changed since you opened it (" + changed.latest + more + "). ");
    var reload = el("a", "", "Reload it to see what changed");
    reload.href = window.location.pathname;
    p.appendChild(reload);
    p.appendChild(document.createTextNode("."));
    return p;
  }

  function words(node) {
    return node ? node.textContent.replace(/\s+/g, " ").trim() : "";
  }

  // Replaces the region's content only when its words differ: no announcement each poll.
  function say(region, node) {
    if (words(region) === words(node)) return;
    while (region.firstChild) region.removeChild(region.firstChild);
    if (node) region.appendChild(node);
  }

  function schedule(delay) {
    window.clearTimeout(timer);
    timer = null;
    if (!stopped && document.visibilityState === "visible") {
      timer = window.setTimeout(poll, delay);
    }
  }

  function poll() {
    if (stopped || busy) return;
    busy = true;
    window.fetch(url + "?since=" + encodeURIComponent(version), {
      headers: { accept: "application/json" }, cache: "no-store", credentials: "same-origin"
    }).then(function (response) {
      // Signed out (sent to the sign-in page), or the application is out of reach now:
      // nothing more to learn here.
      if (response.redirected || [401, 403, 404].indexOf(response.status) >= 0) {
        stopped = true;
        return null;
      }
      return response.ok ? response.json() : null;
    }).then(function (answer) {
      if (!answer) return;
      mark = answer.mark || "";
      say(othersRegion, othersLine(answer.others || []));
      say(changedRegion, changedLine(answer.changed));
    }).catch(function () {
      // The network or the server hiccuped: the next turn asks again.
    }).then(function () {
      busy = false;
      schedule(EVERY);
    });
  }

  function leave() {
    window.clearTimeout(timer);
    timer = null;
    if (!mark || !leaveForm || !navigator.sendBeacon) return;
    var data = new URLSearchParams(new FormData(leaveForm));
    data.set("mark", mark);
    navigator.sendBeacon(leaveForm.action, data);
    mark = "";  // once per absence; the next answer gives a new one
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") schedule(0);
    else leave();
  });
  window.addEventListener("pagehide", leave);
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) schedule(0);  // back from the back-forward cache
  });
  schedule(0);
}());
