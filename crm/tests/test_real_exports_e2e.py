"""From exports shaped like Aremko's real ones to proposals (issue 9): the whole path, with the truth known.

`make_history_export --from-demo` writes the demo history the way the legacy system exports it (front-desk and
agency contacts shared by many names, contacts filled by a broken lookup, `#N/A`, no catalogue) with the client
export and a side file naming the real person of every history line. Then, as staff would: `import_clients`,
`import_history`, `train_recommender`, a proposal for every customer with history, `evaluate_recommendations`.

The test needs the shared-contact importer and the trained recommender of issue 9; until both are in this code
base it is skipped (see `needs_issue_9`), so it starts running by itself the day they land.
"""

import csv
import io
import re
from collections import defaultdict

import pytest
from django.conf import settings
from django.core.management import call_command, get_commands
from django.utils import timezone

from crm.services.proposals.service import generate_proposal
from ventas.importing.parsers import ServiceCatalog
from ventas.importing.synthetic import AGENCY_EMAILS, FRONT_DESK_PHONE
from ventas.models import Cliente, ImportedRow, ImportRun, ServiceHistory, Servicio
from ventas.normalize import normalize_phone, search_key

SCALE = "0.15"  # 144 people with history, 3,924 lines: the whole path in well under 30 s
SEED = "4"  # no two customers share a name at this scale: homonyms are not what this test is about

needs_issue_9 = pytest.mark.skipif(
    "train_recommender" not in get_commands() or not hasattr(settings, "IMPORT_SHARED_CONTACT_NAMES"),
    reason="needs the shared-contact importer and train_recommender (issue 9)",
)
pytestmark = [pytest.mark.django_db, needs_issue_9]


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def read(path):
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def import_exports(folder, profile: str) -> dict[int, tuple[dict, str]]:
    """Write both exports of a profile and import them; returns each history line (by file line) and its person."""
    history, clients, truth = folder / "historial.csv", folder / "clientes.csv", folder / "verdad.csv"
    today = timezone.localdate().isoformat()
    run("make_history_export", "--from-demo", "--scale", SCALE, "--seed", SEED, "--profile", profile,
        "--today", today, "--out", str(history), "--clients-out", str(clients), "--truth-out", str(truth))  # fmt: skip
    run("import_clients", str(clients))
    run("import_history", str(history))
    people = {int(row["linea"]): row["persona"] for row in read(truth)}
    return {line: (row, people[line]) for line, row in enumerate(read(history), start=2)}


@pytest.fixture
def imported(tmp_path):
    return import_exports(tmp_path, "default")


def names_and_people_per_customer(lines):
    run_id = ImportRun.objects.filter(kind=ImportRun.Kind.HISTORY).latest("pk").pk
    customer_of = dict(ServiceHistory.objects.values_list("pk", "cliente_id"))
    names, people = defaultdict(set), defaultdict(set)
    for line, history_id in ImportedRow.objects.filter(run_id=run_id).values_list("line", "history_id"):
        row, person = lines[line]
        names[customer_of[history_id]].add(search_key(row["cliente"]))
        people[customer_of[history_id]].add(person)
    return names, people


def test_no_customer_holds_the_history_of_several_names(imported):
    names, people = names_and_people_per_customer(imported)

    assert ServiceHistory.objects.count() == len(imported)
    assert len(names) >= 100
    assert max(len(found) for found in names.values()) < 3
    assert max(len(found) for found in people.values()) < 3
    # No proposal may go to the front desk or to the agency that booked the walk-ins.
    assert not Cliente.objects.filter(telefono=normalize_phone(FRONT_DESK_PHONE)).exists()
    assert not Cliente.objects.filter(email=AGENCY_EMAILS[0][0]).exists()


def test_catalogue_is_learned_from_the_history(imported):
    written = {search_key(ServiceCatalog([]).clean(row["servicio"])) for row, _ in imported.values()}
    catalogue = {search_key(name): active for name, active in Servicio.objects.values_list("nombre", "activo")}

    assert written <= set(catalogue)
    assert catalogue[search_key("Tina Michimahuida")] is False  # retired: only sold years ago
    assert sum(catalogue.values()) >= 15


def hit_rates(output: str) -> dict[str, float]:
    """The first percentage on each line of the evaluation that names the engine or a baseline, by label."""
    rates = {}
    for line in output.splitlines():
        match = re.match(r"^(\S[^\d%]*?)\s{2,}.*?(\d+(?:[.,]\d+)?)\s*%", line)
        if match and re.search(r"motor|popular|frecuen|personal", match.group(1), re.IGNORECASE):
            rates.setdefault(match.group(1).strip(), float(match.group(2).replace(",", ".")))
    return rates


def propose_to_everyone_and_evaluate() -> tuple[float, dict[str, float]]:
    run("train_recommender")
    with_history = Cliente.objects.filter(historial_servicios__isnull=False).distinct()
    for cliente in with_history:
        proposal = generate_proposal(cliente=cliente, backend="local")
        assert 1 <= len(proposal.recommendations) <= 3, cliente.pk
    rates = hit_rates(run("evaluate_recommendations"))
    engine = rates.pop("Motor local")
    assert "Popularidad" in rates, rates
    return engine, rates


def test_every_customer_with_history_gets_a_proposal_and_the_trained_engine_is_no_worse_than_the_baselines(
    imported,
):
    engine, baselines = propose_to_everyone_and_evaluate()
    assert engine >= max(baselines.values()) - 0.05, (engine, baselines)


def test_on_data_where_popularity_is_strong_the_served_model_is_no_worse_than_the_baselines(tmp_path):
    """Here the fitted engine may lose to a baseline on the held-out visits; then that baseline is served."""
    from crm.models import Proposal, RecommenderModel

    import_exports(tmp_path, "popular")
    engine, baselines = propose_to_everyone_and_evaluate()
    served = RecommenderModel.objects.latest("fitted_at", "pk")
    served_rate = round(served.metrics["candidates"][served.kind]["hit_rate"] * 100, 1)
    assert served_rate >= max(engine, *baselines.values()) - 0.05, (served.kind, served_rate, engine, baselines)
    assert set(Proposal.objects.values_list("model", flat=True)) == {str(served)}
