// "Generar Propuesta" on the customer profile: POST with the form's CSRF token, then show the proposal.
// Without JavaScript the form still works: the server redirects to the preview page.
(function () {
  "use strict";

  var ERRORS = {
    401: "Tu sesión expiró: vuelve a iniciar sesión.",
    403: "No tienes permiso o la sesión expiró: recarga la página e inténtalo de nuevo.",
    404: "El cliente no existe.",
    429: "Demasiadas propuestas seguidas: espera un minuto e inténtalo de nuevo.",
    502: "El motor de propuestas respondió con un error. Inténtalo de nuevo en unos minutos.",
    504: "El motor de propuestas no respondió a tiempo. Inténtalo de nuevo en unos minutos."
  };
  var INSIGHT_LABELS = { segment: "Segmento", behaviour: "Comportamiento", preferences: "Preferencias" };

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function renderInsights(list, insights) {
    list.replaceChildren();
    Object.keys(INSIGHT_LABELS).forEach(function (key) {
      if (!insights[key]) return;
      list.append(element("dt", null, INSIGHT_LABELS[key]), element("dd", null, insights[key]));
    });
  }

  function renderRecommendations(list, recommendations) {
    list.replaceChildren();
    recommendations.forEach(function (item) {
      var li = element("li", "propuesta-rec");
      var head = element("p", "propuesta-rec-titulo");
      head.append(element("strong", null, item.service_name), " · " + item.category + " · ");
      head.append(element("span", "propuesta-precio", item.price_display));
      // Wording and level come from the server (crm.services.recommender.confidence); the script only prints them.
      var confidence = item.confidence_display || {};
      var line = element("p", "propuesta-confianza");
      if (confidence.title) line.title = confidence.title;
      if (confidence.level) {
        line.append(element("span", "propuesta-nivel propuesta-nivel-" + confidence.level, confidence.label), " ");
      }
      line.append(confidence.text || "");
      li.append(head, line, element("p", "propuesta-razon", item.reason));
      list.append(li);
    });
  }

  function renderOffer(box, offer) {
    box.replaceChildren(
      element("p", "propuesta-oferta-titulo", offer.title + (offer.discount ? " · " + offer.discount + "% de descuento" : "")),
      element("p", null, offer.description),
      element("p", "muted", "Código " + offer.code + " · válido hasta el " + (offer.valid_until_display || offer.valid_until))
    );
  }

  function init(card) {
    var form = card.querySelector(".propuesta-form");
    var button = card.querySelector(".propuesta-boton");
    var label = card.querySelector(".propuesta-boton-texto");
    var spinner = card.querySelector(".spinner");
    var status = card.querySelector(".propuesta-estado");
    var errorBox = card.querySelector(".propuesta-error");
    var result = card.querySelector(".propuesta-resultado");
    var tokenInput = form.querySelector("input[name=csrfmiddlewaretoken]");

    function busy(on) {
      button.disabled = on;
      button.setAttribute("aria-busy", on ? "true" : "false");
      spinner.hidden = !on;
      label.textContent = on ? "Generando…" : "Generar Propuesta";
    }

    function fail(message) {
      status.textContent = "";
      errorBox.textContent = message;
      errorBox.hidden = false;
    }

    function show(data) {
      card.querySelector(".propuesta-meta").textContent =
        "Propuesta #" + data.proposal_id + " · " + data.backend_label + " · segmento " + data.customer_profile.segment_label;
      renderInsights(card.querySelector(".propuesta-insights"), data.insights || {});
      renderRecommendations(card.querySelector(".propuesta-recomendaciones"), data.recommendations || []);
      card.querySelector(".propuesta-leyenda").textContent = data.confidence_legend || "";
      renderOffer(card.querySelector(".propuesta-oferta"), data.offer || {});
      card.querySelector(".propuesta-asunto").textContent = "Asunto: " + data.email_subject;
      card.querySelector(".propuesta-email").src = data.email_url;
      result.hidden = false;
      status.textContent = "Propuesta generada.";
      result.focus();
      // The "Enviar por email" panel listens for this to send the proposal just shown.
      document.dispatchEvent(new CustomEvent("propuesta:generada", { detail: data }));
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (button.disabled) return;
      busy(true);
      errorBox.hidden = true;
      status.textContent = "Generando la propuesta…";
      fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": tokenInput ? tokenInput.value : "" }
      })
        .then(function (response) {
          return response.json().then(
            function (data) { return { status: response.status, data: data }; },
            function () { return { status: response.status, data: null }; }
          );
        })
        .then(function (answer) {
          if (answer.data && answer.data.ok) {
            show(answer.data);
          } else {
            fail((answer.data && answer.data.error) || ERRORS[answer.status] || "No se pudo generar la propuesta (error " + answer.status + ").");
          }
        })
        .catch(function () {
          fail("No se pudo conectar con el servidor. Revisa tu conexión e inténtalo de nuevo.");
        })
        .finally(function () {
          busy(false);
        });
    });
  }

  document.querySelectorAll("[data-propuesta]").forEach(init);
})();
