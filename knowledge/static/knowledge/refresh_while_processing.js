// On the document list, reload every 3 s while any document is queued or processing,
// so an administrator sees the status change without pressing reload.
(function () {
  "use strict";
  const busy = Array.from(document.querySelectorAll("td.field-status_with_progress")).some(function (cell) {
    return /queued|processing/i.test(cell.textContent);
  });
  if (busy) setTimeout(function () { location.reload(); }, 3000);
})();
