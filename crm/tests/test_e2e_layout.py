"""Every page fits a phone (375 px) and a laptop (1366 px): a real chromium opens each one, logged in as
Administración, on a small realistic data set (long names and emails, big CLP amounts, campaigns, a tray...).

Per page and width it checks that
- the page body never scrolls sideways (`document.documentElement.scrollWidth <= innerWidth`); a wide table may
  scroll inside its own `.table-wrap`, except at 1366 px, where every table must fit;
- no money, date, email or phone (cells marked `num`, `date`, `email`, `tel`, the stat cards, the profile's
  contact facts) is cut, and none is broken across lines in the middle of a word (an email may wrap at its
  `<wbr>` points: after the dots and dashes, before the @);
and saves a full-page screenshot to test-artifacts/layout/<page>-<width>.png (kept by CI as an artifact).
Django's own admin pages get the page-overflow check only.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from aremko.pytest_plugin import _skip_or_fail, make_role_user
from crm.models import (
    Campaign,
    CampaignRecipient,
    CLVModel,
    CustomerValue,
    PlantillaWhatsApp,
    Proposal,
    SegmentSnapshot,
    Tier,
    TrayItem,
)
from crm.roles import ADMINISTRACION
from crm.services import campaigns, summaries
from crm.services.mail.tokens import unsubscribe_token
from crm.services.proposals.service import generate_proposal
from crm.services.retention import due_back
from crm.services.whatsapp import build_tray, record_outcome
from crm.tests.browser import ARTIFACTS, chromium
from crm.tests.builders import make_service
from crm.tests.mailtools import make_proposal
from ventas.models import Cliente, ConsentEvent, ImportRun, ServiceHistory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (375, 1366)
SHOTS = ARTIFACTS / "layout"
LONG_EMAIL = "maria.fernanda.gonzalez.rivera@ejemplo-correo.cl"
TINA, MASAJE, CABANA = "Tina Calbuco", "Masaje Relajación con Piedras Calientes", "Cabaña Torre del Volcán Osorno"

# Money, dates, emails and phones: never cut, never broken inside a word.
GUARDED = ", ".join(
    [
        "td.num",
        ".date",
        ".email",
        ".tel",
        ".stat-value",
        ".campaign-figures dd",
    ]
)

CHECK_PAGE = (Path(__file__).parent / "layout_check.js").read_text()


@dataclass(frozen=True)
class Page:
    name: str
    path: str  # under the live server; "" when `open` reaches the page by clicking
    admin: bool = False  # Django's admin: page overflow only
    logged_in: bool = True  # as Administración (admin pages: as the superuser, who sees every model)
    click: str = ""  # a button to click on `path` to reach the page (pages answered to a POST)
    shows: str = ""  # what the click shows without leaving the page (a panel filled by JavaScript)
    tables_fit_at: tuple[int, ...] = (1366,)  # widths where no table may scroll inside its box
    status: int = 200


@pytest.fixture(scope="module")
def browser():
    with chromium(_skip_or_fail) as launched:
        yield launched


def _history(cliente, rows):
    ServiceHistory.objects.bulk_create(
        ServiceHistory(
            cliente=cliente,
            service_date=day,
            price_paid=Decimal(price),
            service_type=category,
            service_name=name,
            year=day.year,
            quantity=1,
        )
        for day, price, category, name in rows
    )


def build_world() -> dict:
    """Customers with long names and emails and six-figure bills, two campaigns, proposals, a tray, retention
    figures, consent events and an import run; returns the ids the page list needs."""
    today = timezone.localdate()
    for nombre, categoria, precio in [
        (TINA, "Tinas", 25_000),
        (MASAJE, "Masajes", 48_000),
        (CABANA, "Cabañas", 1_246_535),
    ]:
        make_service(nombre, categoria=categoria, precio=precio)
    maria = Cliente.objects.create(
        nombre="María Fernanda González Rivera de la Fuente",
        email=LONG_EMAIL,
        telefono="+56 9 1234 5678",
        ciudad="Puerto Varas",
        pais="Chile",
        documento_identidad="12.345.678-5",
    )
    rows = []
    for step in range(24):  # a visit a month for two years, a cabin stay every quarter
        day = today - datetime.timedelta(days=45 + 30 * step)
        rows.append((day, 25_000 + 500 * step, "Tinas", TINA))
        rows.append((day, 48_000, "Masajes", MASAJE))
        if step % 3 == 0:
            rows.append((day, 1_246_535, "Cabañas", CABANA))
    _history(maria, rows)

    # At-risk customers with long names: the campaign audience.
    at_risk = []
    for index in range(6):
        cliente = Cliente.objects.create(
            nombre=f"Josefina Alejandra Valenzuela Echeverría {index}",
            email=f"josefina.alejandra.valenzuela{index}@correo-muy-largo-ejemplo.cl",
            telefono=f"+56 9 8765 43{index:02d}",
        )
        last = today - datetime.timedelta(days=400)
        _history(
            cliente,
            [(last - datetime.timedelta(days=30 * k), 180_000 + 1_000 * index, "Cabañas", CABANA) for k in range(5)],
        )
        at_risk.append(cliente)
    # Overdue regulars with a valid mobile: the WhatsApp tray.
    for index in range(4):
        cliente = Cliente.objects.create(
            nombre=f"Ignacio Sebastián Contreras Villalobos {index}",
            email=f"ignacio.contreras{index}@ejemplo-correo.cl",
            telefono=f"+56 9 5555 01{index:02d}",
        )
        _history(cliente, [(today - datetime.timedelta(days=100 + 30 * k), 30_000, "Tinas", TINA) for k in range(4)])
    summaries.rebuild(today=today)
    due_back.refresh(today)

    # Proposals: one generated for María on screen, sent ones for the results page.
    proposal = generate_proposal(cliente=maria, backend="local")
    for offset, cliente in enumerate(at_risk[:3]):
        make_proposal(
            cliente,
            status=Proposal.Status.SENT,
            sent_at=timezone.now() - datetime.timedelta(days=offset + 1),
            sent_to=cliente.email,
        )

    # A campaign that stops in review with generated proposals, and a finished send campaign with a control group.
    review = campaigns.start_campaign(options=campaigns.CampaignOptions(segment="at_risk"), enqueue=False)
    campaigns.run_campaign(review.pk)
    recipient = review.recipients.filter(status=CampaignRecipient.Status.GENERATED).first()
    sent_campaign = Campaign.objects.create(
        segment="at_risk", mode=Campaign.Mode.SEND, status=Campaign.Status.DONE, finished_at=timezone.now()
    )
    for index, cliente in enumerate(at_risk):
        if index < 4:
            sent = make_proposal(
                cliente,
                status=Proposal.Status.SENT,
                sent_at=timezone.now() - datetime.timedelta(days=20),
                sent_to=cliente.email,
            )
            CampaignRecipient.objects.create(
                campaign=sent_campaign, cliente=cliente, proposal=sent, status=CampaignRecipient.Status.SENT
            )
        else:
            CampaignRecipient.objects.create(
                campaign=sent_campaign, cliente=cliente, status=CampaignRecipient.Status.CONTROL
            )

    # Retention: lifetime value, monthly segment snapshots, consent history.
    model = CLVModel.objects.create(bgnbd={"r": 1, "alpha": 1, "a": 1, "b": 1})
    CustomerValue.objects.create(
        cliente=maria,
        model=model,
        p_alive=0.93,
        expected_visits_90d=2.4,
        expected_visits_365d=11.8,
        expected_value_365d=12_465_350,
    )
    this_month = today.replace(day=1)
    previous_month = (this_month - datetime.timedelta(days=1)).replace(day=1)
    SegmentSnapshot.objects.bulk_create(
        [SegmentSnapshot(month=previous_month, cliente=c, segment="vip") for c in at_risk]
        + [SegmentSnapshot(month=this_month, cliente=c, segment="at_risk") for c in at_risk]
        + [
            SegmentSnapshot(month=previous_month, cliente=maria, segment="loyal"),
            SegmentSnapshot(month=this_month, cliente=maria, segment="champions"),
        ]
    )
    ConsentEvent.objects.create(
        cliente=maria,
        channel=ConsentEvent.Channel.EMAIL,
        granted=True,
        source=ConsentEvent.Source.STAFF,
        text="Acepto recibir propuestas de Aremko Spa por correo electrónico y WhatsApp.",
        version="2026-01",
    )

    # WhatsApp tray of today, one outcome recorded.
    for tier in Tier.values:
        PlantillaWhatsApp.objects.create(
            nombre=f"Recordatorio {tier}",
            tier=tier,
            texto="Hola {nombre}, le esperamos de vuelta en Aremko Spa: sus tinas calientes le extrañan.",
        )
    build_tray(today)
    # A shown item: the holdout draw depends on the ids the database hands out, and a held customer is never
    # contacted (recording an outcome for one is refused).
    item = TrayItem.objects.filter(tray__day=today, holdout=False).order_by("pk").first()
    if item:
        record_outcome(item_id=item.pk, outcome="enviado")

    ImportRun.objects.create(
        kind=ImportRun.Kind.HISTORY,
        file_name="historial_servicios_exportacion_completa_2026.csv",
        rows_read=26_158,
        imported=26_000,
        duplicates=150,
        rejected=8,
        services_added=26_000,
        seconds=41.5,
        finished_at=timezone.now(),
    )
    return {
        "maria": maria.pk,
        "proposal": proposal.pk,
        "review": review.pk,
        "recipient": recipient.pk,
        "sent_campaign": sent_campaign.pk,
        "token": unsubscribe_token(at_risk[5].pk),
        "today": today,
    }


def pages(world) -> list[Page]:
    maria, review = world["maria"], world["review"]
    crm = "/ventas/crm"
    return [
        Page("login", "/accounts/login/", logged_in=False),
        Page("baja", f"{crm}/baja/{world['token']}/", logged_in=False),
        Page("dashboard", f"{crm}/", tables_fit_at=WIDTHS),
        Page("buscar", f"{crm}/buscar/"),
        Page("buscar-resultados", f"{crm}/buscar/?q=gonzalez"),
        Page("buscar-segmento", f"{crm}/buscar/?segmento=at_risk"),
        Page("cliente", f"{crm}/cliente/{maria}/"),
        Page("cliente-propuesta", f"{crm}/cliente/{maria}/", click=".propuesta-boton", shows=".propuesta-resultado"),
        Page("historial", f"{crm}/cliente/{maria}/historial/"),
        Page("propuesta-preview", f"{crm}/cliente/{maria}/preview/"),
        Page("propuesta-email", f"{crm}/propuesta/{world['proposal']}/email/"),
        Page("privacidad-explicacion", f"{crm}/cliente/{maria}/privacidad/explicacion/"),
        Page("privacidad-eliminar", f"{crm}/cliente/{maria}/privacidad/eliminar/"),
        Page("campanas", f"{crm}/campanas/"),
        Page("campanas-revision", f"{crm}/campanas/?segmento=at_risk&modo=generate"),
        Page("campanas-envio", f"{crm}/campanas/?segmento=at_risk&modo=send"),
        Page(
            "campanas-confirmar",
            f"{crm}/campanas/?segmento=at_risk&modo=send",
            click="form[action$='/campanas/iniciar/'] button[type=submit]",
        ),
        Page("campana-revision", f"{crm}/campanas/{review}/"),
        Page("campana-aprobar", f"{crm}/campanas/{review}/", click=".approve-form button[type=submit]"),
        Page("campana-enviada", f"{crm}/campanas/{world['sent_campaign']}/"),
        Page("propuestas", f"{crm}/propuestas/"),
        Page("propuestas-campana", f"{crm}/propuestas/?campana={world['sent_campaign']}"),
        Page("retencion", f"{crm}/retencion/"),
        Page("retencion-atrasados", f"{crm}/retencion/atrasados/"),
        Page("retencion-movimiento", f"{crm}/retencion/movimiento/?de=valiosos&a=at_risk"),
        Page("bandeja", f"{crm}/bandeja/?fecha={world['today'].isoformat()}"),
        Page("404", f"{crm}/cliente/99999999/", status=404),
        Page("admin", "/admin/", admin=True),
        Page("admin-clientes", "/admin/ventas/cliente/", admin=True),
        Page("admin-cliente", f"/admin/ventas/cliente/{maria}/change/", admin=True),
        Page("admin-historial", "/admin/ventas/servicehistory/", admin=True),
        Page("admin-importaciones", "/admin/ventas/importrun/", admin=True),
        Page("campana-propuesta", f"{crm}/campanas/{review}/propuesta/{world['recipient']}/"),
    ]


# CRM URLs that are not pages of their own, and why; every other URL in crm/urls.py must be in `pages`.
NOT_PAGES = {
    "crm_enviar_propuesta": "POST; answers JSON or redirects to the profile",
    "crm_campana_iniciar": "POST; its answer is the page campanas-confirmar",
    "crm_campana_aprobar": "POST; its answer is the page campana-aprobar",
    "crm_campana_progreso": "JSON for campanas.js",
    "crm_campana_cancelar": "POST; redirects",
    "crm_campana_reanudar": "POST; redirects",
    "crm_campana_decidir": "POST; redirects",
    "crm_campana_descartar": "POST; redirects",
    "crm_bandeja_resultado": "POST; redirects",
    "crm_bandeja_enviar": "POST; redirects",
    "crm_bandeja_abrir": "redirects to WhatsApp",
    "generar_propuesta": "POST; JSON shown in the page cliente-propuesta",
    "privacidad_exportar": "POST; a ZIP download",
    "privacidad_restriccion": "POST; redirects",
    "privacidad_consentimiento": "POST; redirects",
}


def log_in(page, base_url, username):
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "clave-segura-123")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/ventas/crm/")


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_the_screen_and_shows_money_dates_and_contacts_whole(live_server, browser, width):
    make_role_user("administracion", ADMINISTRACION, email="administracion@example.org")
    make_role_user("dueno", None, is_superuser=True)
    world = build_world()
    SHOTS.mkdir(parents=True, exist_ok=True)
    failures = []
    anonymous = browser.new_context(viewport={"width": width, "height": 900})
    staff = browser.new_context(viewport={"width": width, "height": 900})
    owner = browser.new_context(viewport={"width": width, "height": 900})
    try:
        log_in(staff.new_page(), live_server.url, "administracion")
        log_in(owner.new_page(), live_server.url, "dueno")
        for spec in pages(world):
            context = owner if spec.admin else staff if spec.logged_in else anonymous
            page = context.new_page()
            response = page.goto(f"{live_server.url}{spec.path}")
            if response.status != spec.status:
                failures.append(f"{spec.name} ({spec.path}) answered {response.status}, not {spec.status}")
            if spec.shows:
                page.click(spec.click)
                page.locator(spec.shows).wait_for(state="visible", timeout=15_000)
            elif spec.click:
                with page.expect_navigation():
                    page.click(spec.click)
            checks = {  # Django's admin pages: page overflow only
                "guarded": "" if spec.admin else GUARDED,
                "tablesMustFit": width in spec.tables_fit_at and not spec.admin,
            }
            problems = page.evaluate(CHECK_PAGE, checks)
            page.screenshot(path=str(SHOTS / f"{spec.name}-{width}.png"), full_page=True)
            failures += [f"{spec.name} ({spec.path}) at {width} px: {problem}" for problem in problems]
            page.close()
    finally:
        owner.close()
        staff.close()
        anonymous.close()
    assert not failures, f"{len(failures)} layout problem(s):\n" + "\n".join(failures)


def test_the_layout_test_opens_every_crm_page():
    from django.urls import resolve

    from crm.urls import urlpatterns

    world = {"maria": 1, "proposal": 1, "review": 1, "recipient": 1, "sent_campaign": 2, "token": "x"}
    world["today"] = datetime.date(2026, 11, 25)
    opened = {resolve(spec.path.split("?")[0]).url_name for spec in pages(world) if spec.status == 200}
    missing = {pattern.name for pattern in urlpatterns} - opened - set(NOT_PAGES)
    assert not missing, f"add these pages to pages() in {__name__} (or to NOT_PAGES, saying why): {sorted(missing)}"
