"""`write_demo_exports` / `make_history_export --from-demo`: the demo history shaped like the real legacy exports."""

import csv
import io
from collections import Counter, defaultdict

import pytest
from django.core.management import CommandError, call_command

from ventas.importing.matching import normalize_email
from ventas.importing.readers import CLIENT_COLUMNS, HISTORY_COLUMNS, open_table
from ventas.importing.synthetic import AGENCY_EMAILS, FRONT_DESK_PHONE, write_demo_exports
from ventas.normalize import normalize_phone, search_key
from ventas.tests.test_demo_data import TODAY


def read(path):
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def names_by(rows, column, normalize):
    found = defaultdict(set)
    for row in rows:
        if value := normalize(row[column]):
            found[value].add(search_key(row["cliente"]))
    return found


@pytest.fixture(scope="module")
def scale_one(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    stats = write_demo_exports(
        folder / "historial.csv", folder / "clientes.csv", scale=1, today=TODAY, truth_path=folder / "verdad.csv"
    )
    return folder, stats


def test_front_desk_phone_and_agency_emails_are_shared_by_many_walk_in_names(scale_one):
    folder, stats = scale_one
    rows = read(folder / "historial.csv")
    phones = names_by(rows, "telefono", normalize_phone)
    emails = names_by(rows, "mail", normalize_email)

    assert len(phones[normalize_phone(FRONT_DESK_PHONE)]) >= 100
    assert len(emails[AGENCY_EMAILS[0][0]]) >= 80
    assert all(len(emails[email]) >= 3 for email, _ in AGENCY_EMAILS)
    assert stats.walk_ins >= 100


def test_the_wrong_lookup_gives_many_phones_and_emails_three_or_more_names(scale_one):
    folder, stats = scale_one
    rows = read(folder / "historial.csv")
    for column, normalize in (("telefono", normalize_phone), ("mail", normalize_email)):
        sizes = [len(names) for names in names_by(rows, column, normalize).values()]
        shared = sum(size >= 3 for size in sizes)
        assert shared >= 0.4 * len(sizes), column  # the real export: 80 % of its phones
        assert sum(size >= 10 for size in sizes) >= 5, column
        assert max(sizes) >= 100, column
    assert (stats.phones_3_names, stats.phone_max_names) == (
        sum(len(n) >= 3 for n in names_by(rows, "telefono", normalize_phone).values()),
        max(len(n) for n in names_by(rows, "telefono", normalize_phone).values()),
    )


def test_each_reservation_has_one_name_and_one_phone_and_each_name_almost_always_one_phone(scale_one):
    rows = read(scale_one[0] / "historial.csv")
    per_reserva = defaultdict(set)
    per_name = defaultdict(set)
    for row in rows:
        per_reserva[row["reserva"]].add((search_key(row["cliente"]), row["telefono"], row["mail"]))
        per_name[search_key(row["cliente"])].add(normalize_phone(row["telefono"]))

    assert all(len(found) == 1 for found in per_reserva.values())
    assert sum(len(found) == 1 for found in per_name.values()) >= 0.98 * len(per_name)


def test_contact_columns_carry_spreadsheet_junk(scale_one):
    rows = read(scale_one[0] / "historial.csv")
    cells = Counter(row["telefono"] for row in rows) + Counter(row["mail"] for row in rows)

    assert cells["#N/A"] > 100
    assert cells["-"] and cells["0"] and cells["sin mail"]


def test_categories_mix_lower_and_proper_case_and_names_are_sometimes_capitalised(scale_one):
    rows = read(scale_one[0] / "historial.csv")
    categories = Counter(row["categoria"] for row in rows)

    assert categories["tinas"] and categories["Tinas"] and categories["masajes"] and categories["Masajes"]
    assert any(row["cliente"].isupper() for row in rows)
    assert any(search_key(row["servicio"]).startswith("masaje") and row["servicio"][-1].isdigit() for row in rows)


def test_there_is_no_catalogue_only_the_two_exports_and_the_truth(scale_one):
    folder, _ = scale_one
    assert sorted(path.name for path in folder.iterdir()) == ["clientes.csv", "historial.csv", "verdad.csv"]
    with open_table(folder / "historial.csv") as table:
        assert table.kind == "historial"
        assert [c for c in table.header if c] == HISTORY_COLUMNS
    with open_table(folder / "clientes.csv") as table:
        assert (table.kind, table.header) == ("clientes", CLIENT_COLUMNS)


def test_client_export_contacts_are_unique_per_person_and_leave_out_walk_ins(scale_one):
    folder, stats = scale_one
    clients = read(folder / "clientes.csv")
    emails = [normalize_email(row["Email"]) for row in clients if row["Email"]]
    phones = [normalize_phone(row["Telefono"]) for row in clients if row["Telefono"]]

    assert len(clients) == stats.clients == 3053 - stats.walk_ins
    assert len(emails) == len(set(emails)) > 1500 and all(emails)
    assert len(phones) == len(set(phones)) > 2500 and all(phones)
    assert normalize_phone(FRONT_DESK_PHONE) not in phones


def test_truth_file_names_the_person_of_every_history_line(scale_one):
    folder, stats = scale_one
    truth = read(folder / "verdad.csv")
    rows = read(folder / "historial.csv")

    assert [int(row["linea"]) for row in truth] == list(range(2, stats.history_rows + 2))
    assert stats.history_rows == len(rows) == 26158
    names_per_person = defaultdict(set)
    for row, line in zip(rows, truth, strict=True):
        names_per_person[line["persona"]].add(search_key(row["cliente"]))
    assert len(names_per_person) == stats.people_with_history == 961
    assert all(len(names) == 1 for names in names_per_person.values())


def test_same_seed_writes_the_same_files_and_another_seed_or_profile_does_not(tmp_path):
    def export(name, **options):
        write_demo_exports(tmp_path / f"{name}-h.csv", tmp_path / f"{name}-c.csv", scale=0.05, today=TODAY, **options)
        return (tmp_path / f"{name}-h.csv").read_bytes(), (tmp_path / f"{name}-c.csv").read_bytes()

    first = export("a", seed=5)
    assert export("b", seed=5) == first
    assert export("c", seed=6)[0] != first[0]
    assert export("d", seed=5, profile="popular")[0] != first[0]


def run(*args):
    out = io.StringIO()
    call_command("make_history_export", *args, stdout=out)
    return out.getvalue()


def test_command_writes_both_exports_and_prints_the_trait_figures(tmp_path):
    history, clients = tmp_path / "h.csv", tmp_path / "c.csv"
    output = run("--from-demo", "--scale", "0.1", "--profile", "popular", "--seed", "3", "--out", str(history),
                 "--clients-out", str(clients), "--today", "2026-11-25")  # fmt: skip

    assert "Historial: 2.616 filas de 96 personas" in output
    assert "Teléfonos distintos:" in output and "con 3 o más nombres:" in output
    assert len(read(history)) == 2616
    assert read(clients)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from-demo", "--scale", "0"], "--scale"),
        (["--from-demo", "--scale", "11"], "--scale"),
        (["--from-demo", "--rows", "10"], "--rows"),
        (["--from-demo", "--today", "25-11-2026"], "--today"),
        ([], "--rows"),
    ],
)
def test_command_refuses_bad_options(tmp_path, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args, "--out", str(tmp_path / "h.csv"))
