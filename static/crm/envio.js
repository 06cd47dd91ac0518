// "Enviar por email" on the customer profile: posts without leaving the page and asks for confirmation when the
// server says the customer got a proposal recently. The server enforces every rule; this only talks to it.
(function () {
  "use strict";

  function post(form, confirmed) {
    var data = new FormData(form);
    if (confirmed) {
      data.set("confirmar", "1");
    }
    return fetch(form.action, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    }).then(function (response) {
      return response.json().then(function (payload) {
        return { status: response.status, payload: payload };
      }, function () {
        return { status: response.status, payload: { ok: false, error: "Respuesta inesperada del servidor (" + response.status + ")." } };
      });
    });
  }

  function handle(form, button, output, result) {
    var payload = result.payload;
    if (payload.ok) {
      output.className = "envio-resultado status ok";
      output.textContent = "Propuesta enviada a " + payload.sent_to + " el " + payload.sent_at_display + "." +
        (payload.note ? " " + payload.note : "");
      button.textContent = "Enviada";
      return;
    }
    if (result.status === 409 && payload.needs_confirmation) {
      if (window.confirm(payload.error)) {
        output.textContent = "Enviando…";
        return post(form, true).then(function (again) {
          return handle(form, button, output, again);
        });
      }
      output.textContent = "Envío cancelado.";
      button.disabled = false;
      return;
    }
    output.className = "envio-resultado error";
    output.textContent = payload.error || "No se pudo enviar.";
    button.disabled = result.status === 409;
    if (result.status >= 500) {
      button.textContent = "Reintentar envío";
      button.disabled = false;
    }
  }

  document.querySelectorAll("form[data-envio]").forEach(function (form) {
    var button = form.querySelector("button[type=submit]");
    var output = form.querySelector(".envio-resultado");
    // A proposal generated on this page becomes the one to send.
    document.addEventListener("propuesta:generada", function (event) {
      var proposal = event.detail;
      form.querySelector("input[name=proposal_id]").value = proposal.proposal_id;
      form.querySelector(".envio-descripcion").textContent =
        "Se enviará la propuesta recién generada (" + proposal.offer.code + "): «" + proposal.email_subject + "».";
      output.className = "envio-resultado";
      output.textContent = "";
      button.disabled = false;
      button.textContent = "Enviar por email";
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      button.disabled = true;
      output.className = "envio-resultado";
      output.textContent = "Enviando…";
      post(form, false)
        .then(function (result) {
          return handle(form, button, output, result);
        })
        .catch(function () {
          output.className = "envio-resultado error";
          output.textContent = "No se pudo contactar al servidor. Revisa la conexión y vuelve a intentar.";
          button.disabled = false;
        });
    });
  });
})();
