// Loads the dashboard into the admin home after the page, so the home page costs what it did
// (voice/dashboard_page.py). innerHTML runs no script: the panel is markup and SVG only.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  const box = document.getElementById("dashboard");
  if (!box) {
    return;
  }
  fetch(box.dataset.src, { credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) {
        throw new Error(response.status);
      }
      return response.text();
    })
    .then(function (html) {
      box.querySelector(".dashboard-body").innerHTML = html;
    })
    .catch(function () {
      box.querySelector(".dashboard-loading").textContent = "The dashboard could not be loaded; reload the page to try again.";
    });
});
