// The widget descriptions of ipywidgets' static HTML manager typeset themselves with MathJax 2's API
// (MathJax.Hub.Queue) whenever a `MathJax` global exists. The book loads MathJax 3 on pages with math, which
// has no Hub, so an inspector on such a page threw "Cannot read properties of undefined (reading 'Queue')".
// This gives every MathJax global (the configuration object, then the one MathJax 3 puts in its place
// when it starts) a Hub whose Queue asks MathJax 3 to typeset. Loaded before MathJax.
(function () {
  var hub = {
    Queue: function () {
      var m = window.MathJax;
      if (m && typeof m.typesetPromise === "function") {
        m.typesetPromise();
      }
    },
  };
  function patch(value) {
    if (value && typeof value === "object" && !value.Hub) {
      try {
        value.Hub = hub;
      } catch (e) {
        // a frozen object: leave it
      }
    }
    return value;
  }
  var current = patch(window.MathJax);
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    get: function () {
      return current;
    },
    set: function (value) {
      current = patch(value);
    },
  });
})();
