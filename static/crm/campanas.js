// Campaign progress: polls the JSON endpoint while the campaign is generating or sending, and updates the
// figures in place. The page shows the same numbers without JavaScript (reload to refresh).
(function () {
  "use strict";

  var box = document.querySelector("[data-progress-url]");
  if (!box) {
    return;
  }
  var url = box.getAttribute("data-progress-url");
  var startStatus = box.getAttribute("data-status");
  var numbers = new Intl.NumberFormat("es-CL");

  function setField(name, value) {
    var element = box.querySelector('[data-field="' + name + '"]');
    if (element) {
      element.textContent = typeof value === "number" ? numbers.format(value) : value;
    }
  }

  function render(data) {
    ["status_label", "done", "total", "generated", "sent", "skipped", "failed", "dropped", "interrupted"].forEach(function (name) {
      setField(name, data[name]);
    });
    var bar = box.querySelector("progress");
    if (bar) {
      bar.max = data.total;
      bar.value = data.done;
      bar.textContent = data.done + " de " + data.total;
    }
    var reasons = box.querySelector('[data-field="skipped_by_reason"]');
    if (reasons) {
      reasons.textContent = "";
      data.skipped_by_reason.forEach(function (row) {
        var item = document.createElement("li");
        item.textContent = row.label + ": " + numbers.format(row.count);
        reasons.appendChild(item);
      });
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        render(data);
        if (data.status !== startStatus) {
          // A new phase (review, done) brings new buttons and rows: show the server-rendered page.
          window.location.reload();
          return;
        }
        if (!data.finished) {
          window.setTimeout(poll, 2000);
        }
      })
      .catch(function () {
        window.setTimeout(poll, 10000);
      });
  }

  if (startStatus === "generating" || startStatus === "sending") {
    window.setTimeout(poll, 1500);
  }
})();
