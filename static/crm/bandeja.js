// WhatsApp tray: keep each "Abrir WhatsApp" link in step with its (editable) message.
// Without JavaScript the page still works: the link opens the stored message and the
// "Abrir con el texto editado" button sends the edited text through the server.
(function () {
  "use strict";

  function link(phone, text) {
    return "https://wa.me/" + String(phone || "").replace(/\D/g, "") + "?text=" + encodeURIComponent(text);
  }

  document.querySelectorAll("textarea.tray-message").forEach(function (area) {
    var anchor = document.getElementById(area.dataset.link);
    if (!anchor) return;
    var form = area.closest("form");
    var fallback = form ? form.querySelector(".open-edited") : null;
    if (fallback) fallback.hidden = true;
    var copies = [document.getElementById(area.dataset.api), document.getElementById(area.dataset.outcome)];
    area.addEventListener("input", function () {
      anchor.href = link(area.dataset.phone, area.value);
      copies.forEach(function (copy) {
        if (copy) copy.value = area.value; // the outcome (and API approval) record the text actually sent
      });
    });
  });
})();
