// keys.js: the desk's keyboard shortcuts, on every reviewer page (the list is the cheat
// sheet, templates/review/_shortcuts.html: keep the two in step). On the queue, j and k move
// through the rows, Enter or o opens one, t takes the next application; on an application,
// a, r and i open a decision's form at the field to fill (so t, a, Enter approves with the
// canned text), n goes to the note, and the viewer's keys drive viewer.js. Keys never fire
// while typing in a field (Esc leaves it) or with Ctrl, Alt or Cmd held; every page works
// the same without this script, through its links, buttons and forms.
(() => {
  "use strict";
  const byId = (id) => document.getElementById(id);
  const sheet = byId("shortcuts");
  const opener = byId("shortcuts-open");
  const rows = Array.from(document.querySelectorAll("table.queue tbody tr"))
    .filter((tr) => tr.querySelector("a.reference"));
  const onQueue = !!document.querySelector("table.queue");
  let at = -1; // the queue row j and k reached

  const said = document.createElement("p");
  said.className = "keys-said";
  said.setAttribute("role", "status");
  said.hidden = true;
  document.body.appendChild(said);
  let quiet = 0;
  function tell(text) {
    said.textContent = text;
    said.hidden = false;
    clearTimeout(quiet);
    quiet = setTimeout(() => { said.hidden = true; }, 4000);
  }

  function row(step) {
    if (!rows.length) return tell("No applications in this list.");
    at = Math.min(rows.length - 1, Math.max(0, at + step));
    rows.forEach((tr, i) => tr.classList.toggle("is-current", i === at));
    const link = rows[at].querySelector("a.reference");
    link.focus();
    rows[at].scrollIntoView({ block: "nearest" });
  }

  function openRow() {
    if (at < 0) return tell("Choose an application first (j and k).");
    location.assign(rows[at].querySelector("a.reference").href);
  }

  function takeNext() {
    const form = byId("take-next");
    if (!form) return tell("Taking the next application is not offered on this page.");
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }

  const words = { approve: "Approve", reject: "Reject", request_info: "Request information" };
  function decide(action, field) {
    const box = byId("decide-" + action);
    if (!box) {
      return tell(`${words[action]} is not possible here` +
        (byId("claim-form") ? ": claim the application first." : "."));
    }
    document.querySelectorAll("details[id^='decide-']").forEach((d) => { d.open = d === box; });
    const target = box.querySelector(field) || box.querySelector("summary");
    box.scrollIntoView({ block: "nearest" });
    target.focus();
  }

  function note() {
    const area = byId("note");
    if (!area) return tell("There is no note to write on this page.");
    area.scrollIntoView({ block: "center" });
    area.focus();
  }

  function viewer(name) {
    return () => {
      if (window.deskViewer) window.deskViewer[name]();
      else tell("There is no document to show on this page.");
    };
  }

  function toggleSheet() {
    if (!sheet) return;
    if (sheet.open) sheet.close(); else sheet.showModal();
  }

  const keys = {
    "?": toggleSheet,
    t: takeNext,
    a: () => decide("approve", ".decide-submit"),
    r: () => decide("reject", "select"),
    i: () => decide("request_info", "input[type=checkbox]"),
    n: note,
    u: () => { if (byId("viewer")) location.assign("/review/queue"); }, // from an application only
    j: onQueue ? () => row(1) : viewer("next"),
    k: onQueue ? () => row(-1) : viewer("prev"),
    o: onQueue ? openRow : null,
    "]": viewer("nextPage"),
    "[": viewer("prevPage"),
    "+": viewer("zoomIn"),
    "=": viewer("zoomIn"),
    "-": viewer("zoomOut"),
    w: viewer("fitWidth"),
    0: viewer("fitWhole"),
    e: viewer("rotateRight"),
    E: viewer("rotateLeft"),
    f: viewer("fullscreen"),
    v: viewer("focus"),
  };

  // Fields that take letters; a checkbox or a button takes none, so keys still work there.
  const typing = (el) => el instanceof Element && (
    !!el.closest("textarea, select, [contenteditable=''], [contenteditable=true]") ||
    (el.tagName === "INPUT" && !/^(checkbox|radio|button|submit|reset|range|color|file)$/.test(el.type)));

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey || event.isComposing) return;
    if (typing(event.target)) {
      if (event.key === "Escape" && !(sheet && sheet.open)) event.target.blur();
      return;
    }
    if (sheet && sheet.open && event.key !== "?") return; // the dialog's own keys (Esc)
    let act = keys[event.key];
    if (event.key === "Enter") {
      // Enter on a link or button does what it always does; on the page, opens the row.
      if (!onQueue || at < 0 || event.target !== document.body) return;
      act = openRow;
    }
    if (!act) return;
    event.preventDefault();
    act();
  });

  if (sheet) {
    sheet.querySelector("[data-close]").addEventListener("click", () => sheet.close());
    if (opener) {
      opener.hidden = false;
      opener.addEventListener("click", () => sheet.showModal());
    }
  }
})();
