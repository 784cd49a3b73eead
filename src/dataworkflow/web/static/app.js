// Progressive enhancement only: every page works without this file.
"use strict";
document.addEventListener("click", function (event) {
  var button = event.target.closest("button.copy");
  if (!button || !navigator.clipboard) return;
  navigator.clipboard.writeText(button.getAttribute("data-copy")).then(function () {
    var label = button.textContent;
    button.textContent = "Copied";
    button.classList.add("copied");
    setTimeout(function () { button.textContent = label; button.classList.remove("copied"); }, 1200);
  });
});
document.addEventListener("click", function (event) {
  // Close an open branch switcher when clicking elsewhere.
  document.querySelectorAll("details.switcher[open]").forEach(function (details) {
    if (!details.contains(event.target)) details.removeAttribute("open");
  });
});
