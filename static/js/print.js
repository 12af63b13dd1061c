// The progression report's "Print" button. A file of our own, not an inline onclick: the site's
// Content-Security-Policy allows scripts from our own origin only. The button ships hidden, so a
// browser without JavaScript never shows a button that does nothing (Ctrl+P still works there).
(function () {
  "use strict";
  var button = document.getElementById("print-report");
  if (!button) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    window.print();
  });
})();
