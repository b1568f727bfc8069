// Loaded just before require.js and embed-amd.js (see _config.yml). Written for urlsom, not part of the npm
// packages. It points the widget manager's bundled CSS at the font files in this folder, both through the
// global the bundles read and through require.js's paths (the AMD bundle derives its asset URLs from its
// module URL), so that no request leaves the book and none fails.
(function () {
  var here = document.currentScript.src.replace(/[^/]*$/, "");
  window.__jupyter_widgets_assets_path__ = here;
  if (typeof window.require === "undefined") {
    var dir = here.replace(/\/$/, "");
    window.require = { paths: { "@jupyter-widgets": dir, "@jupyter-widgets/html-manager/dist": dir } };
  }
})();
