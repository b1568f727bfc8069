// sphinx-book-theme hides the right-hand sidebar ("Contents") while a full-width cell is on screen, through
// document.querySelector("div.bd-sidebar-secondary").classList. A page without section headings has no such
// sidebar, so a full-width figure on it (Fig. 6) threw "Cannot read properties of null (reading 'classList')".
// This gives such a page an empty, never shown one before the theme's observer first reports.
(function () {
  function addSidebar() {
    if (!document.querySelector("div.bd-sidebar-secondary")) {
      var div = document.createElement("div");
      div.className = "bd-sidebar-secondary";
      div.style.display = "none";
      document.body.appendChild(div);
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", addSidebar);
  } else {
    addSidebar();
  }
})();
