// decide.js: the decision forms follow what the reviewer picks (templates/review/_decide.html).
// Choosing a refusal's reason brings that reason's canned text, in the applicant's language;
// "Use ..." puts another canned text in with one click. A text the reviewer edited is never
// replaced without their say. Without this script the same choices work by reloading the
// page (?use=ID), and the server refuses a refusal whose text belongs to another reason.
(function () {
  "use strict";
  var data = document.getElementById("canned-data");
  if (!data) return;
  var options = JSON.parse(data.textContent || "[]");
  var byId = {};
  options.forEach(function (o) { byId[String(o.id)] = o; });

  function squash(text) { return (text || "").replace(/\s+/g, " ").trim(); }

  // Untouched: empty, or word for word one of the canned texts (in either language).
  function untouched(area) {
    var value = squash(area.value);
    if (!value) return true;
    return options.some(function (o) { return squash(o.text) === value || squash(o.english) === value; });
  }

  function show(form, option) {
    var action = form.getAttribute("data-action");
    // The list offers every text but the one in the box.
    form.querySelectorAll("a.insert-canned").forEach(function (link) {
      link.parentNode.hidden = !!option && link.getAttribute("data-id") === String(option.id);
    });
    var source = document.getElementById("source-" + action);
    var english = document.getElementById("english-" + action);
    var missing = document.getElementById("missing-" + action);
    if (source) source.textContent = option ? " (from \u201c" + option.title + "\u201d; edit freely)" : "";
    if (english) {
      english.hidden = !option;
      var span = english.querySelector(".english-text");
      if (span) span.textContent = option ? option.english : "";
    }
    if (missing) {
      missing.hidden = !(option && !option.text);
      if (option) missing.textContent = missing.textContent.replace(/\u201c[^\u201d]*\u201d/, "\u201c" + option.title + "\u201d");
    }
  }

  function put(form, option, replaceAll) {
    var area = form.querySelector("textarea[name=message]");
    if (!area) return;
    if (replaceAll || untouched(area)) {
      area.value = option ? option.text : "";
      show(form, option);
      var select = form.querySelector("select.reason-select");
      if (select && option && option.reason_code) select.value = option.reason_code;
    } else if (option && option.text) {
      var start = area.selectionStart, end = area.selectionEnd;
      var before = area.value.slice(0, start), after = area.value.slice(end);
      var glue = before && !/\n\s*$/.test(before) ? "\n\n" : "";
      area.value = before + glue + option.text + after;
      area.selectionStart = area.selectionEnd = (before + glue + option.text).length;
    }
    clearWarning(form);
    area.focus();
  }

  function clearWarning(form) {
    var old = form.querySelector(".reason-kept");
    if (old) old.parentNode.removeChild(old);
  }

  function reasonChanged(form, select) {
    var option = options.filter(function (o) {
      return o.action === "reject" && o.reason_code === select.value;
    })[0] || null;
    var area = form.querySelector("textarea[name=message]");
    clearWarning(form);
    if (untouched(area)) { put(form, option, true); return; }
    // The reviewer's own words stay; say the reason changed under them, offer the text.
    var note = document.createElement("p");
    note.className = "notice warning reason-kept";
    note.setAttribute("role", "status");
    note.textContent = "You changed the reason; your edited message was kept. Check it fits \u201c" +
      select.options[select.selectedIndex].text + "\u201d. ";
    if (option) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "button secondary small";
      button.textContent = "Use the canned text for this reason";
      button.addEventListener("click", function () { put(form, option, true); });
      note.appendChild(button);
    }
    select.closest(".field").insertAdjacentElement("afterend", note);
  }

  document.querySelectorAll("form.decide-form").forEach(function (form) {
    // Ctrl+Enter (Cmd+Enter) sends the decision from any of its fields: a refusal with its
    // canned text is "r" then Ctrl+Enter, no tabbing through the form.
    form.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && form.reportValidity()) {
        event.preventDefault();
        form.requestSubmit ? form.requestSubmit() : form.submit();
      }
    });
    var select = form.querySelector("select.reason-select");
    if (select) select.addEventListener("change", function () { reasonChanged(form, select); });
    form.querySelectorAll("a.insert-canned").forEach(function (link) {
      link.addEventListener("click", function (event) {
        var option = byId[link.getAttribute("data-id")];
        if (!option) return;
        event.preventDefault();
        put(form, option, false);
      });
    });
  });
})();
