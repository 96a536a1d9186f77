// countdown.js: on the verify page (templates/applicant/verify.html) "Send a new code" waits
// out the seconds the server would refuse it for, the time left shown beside it ("You can
// ask for a new code in 0:45.") and announced to screen readers only as the wait starts
// and as the button becomes usable, never each second. Without this script the button is
// always enabled and the server's refusal says the wait in words.
(function () {
  "use strict";
  var shown = document.getElementById("resend-countdown");
  var live = document.getElementById("resend-status");
  var button = document.getElementById("resend");
  if (!shown || !live || !button) return;
  var seconds = parseInt(shown.getAttribute("data-seconds") || "0", 10);
  if (!(seconds > 0)) return;
  var waiting = shown.getAttribute("data-waiting") || "";
  var ready = shown.getAttribute("data-ready") || "";
  var end = Date.now() + seconds * 1000;
  var timer = null;

  function clock(left) {  // m:ss, digits only: no plural to get right in any language
    var s = left % 60;
    return Math.floor(left / 60) + ":" + (s < 10 ? "0" : "") + s;
  }

  function tick() {
    var left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
    if (left > 0) {
      shown.textContent = waiting.replace("{time}", clock(left));
      return;
    }
    window.clearInterval(timer);
    button.disabled = false;
    shown.textContent = ready;
    live.textContent = ready;
  }

  button.disabled = true;
  shown.hidden = false;
  tick();
  // Said once as the wait starts, into a region that was already on the page (unless a
  // refusal by the button just said it).
  if (!document.getElementById("resend-error")) {
    window.setTimeout(function () {
      if (button.disabled) live.textContent = shown.textContent;
    }, 100);
  }
  timer = window.setInterval(tick, 250);
})();
