// zone.js: the apply form asks the applicant's time zone only where their country keeps
// several times (templates/applicant/apply.html, rules/zones.py). As the country changes,
// the field shows that country's zones, the browser's own zone chosen when it is one of
// them, or hides (and is not sent) for a country with one time. Without this script the
// server asks for the zone when the form comes back for such a country.
(function () {
  "use strict";
  var data = document.getElementById("zone-data");
  var country = document.getElementById("country");
  var field = document.getElementById("time_zone-field");
  var select = document.getElementById("time_zone");
  if (!data || !country || !field || !select) return;
  var zones = JSON.parse(data.textContent || "{}");
  var browserZone = "";
  try {
    browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (e) { /* an old browser: the applicant chooses */ }
  var shownFor = field.hidden ? "" : country.value.toUpperCase();

  function fill(choices) {
    var placeholder = select.options[0];
    var chosen = select.value;
    while (select.options.length > 1) select.remove(1);
    var names = {};
    choices.forEach(function (choice) {
      var option = document.createElement("option");
      option.value = choice[0];
      option.textContent = choice[1];
      names[choice[0]] = true;
      select.appendChild(option);
    });
    // Kept if still one of the country's, else the browser's, else none.
    select.value = names[chosen] ? chosen : (names[browserZone] ? browserZone : "");
    if (!select.value) placeholder.selected = true;
  }

  function follow() {
    var code = country.value.toUpperCase();
    var choices = zones[code];
    if (!choices) {
      field.hidden = true;
      select.disabled = true;
      shownFor = "";
      return;
    }
    if (code !== shownFor) fill(choices);  // the server's own list stays as it drew it
    else if (!select.value && choices.some(function (c) { return c[0] === browserZone; })) {
      select.value = browserZone;
    }
    shownFor = code;
    select.disabled = false;
    field.hidden = false;
  }

  country.addEventListener("change", follow);
  follow();
})();
