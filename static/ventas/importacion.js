// Import status page: while the run is queued or running, reload every few seconds to show the rows read.
// Without JavaScript the page still works: the "Actualizar" link does the same.
(function () {
  "use strict";
  var status = document.querySelector("[data-import-refresh]");
  if (!status) {
    return;
  }
  var seconds = Number(status.getAttribute("data-import-refresh")) || 3;
  window.setTimeout(function () {
    window.location.reload();
  }, seconds * 1000);
})();
