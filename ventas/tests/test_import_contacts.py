"""contacts.py: junk values, masking, counting names per contact."""

import pytest

from ventas.importing.contacts import is_junk_cell, is_junk_email, is_junk_phone, mask_contact, scan_contacts
from ventas.importing.matching import Identity


@pytest.mark.parametrize(
    ("contact", "masked"),
    [
        ("maria@gmail.com", "ma***@gmail.com"),
        ("m@gmail.com", "m***@gmail.com"),
        ("+56912345257", "+56 9 **** *257"),
        ("+56652123456", "+56 6 **** *456"),
        ("+5491123456789", "+54 ********789"),
    ],
)
def test_mask_contact_hides_all_but_a_hint(contact, masked):
    assert mask_contact(contact) == masked


@pytest.mark.parametrize("cell", ["#N/A", "#REF!", "-", "0", "sin mail", "Sin Correo", "NO TIENE", "N/A", "xxx"])
def test_junk_cells(cell):
    assert is_junk_cell(cell)


def test_real_values_are_not_junk():
    assert not is_junk_cell("ana@example.org")
    assert not is_junk_email("ana@example.org")
    assert not is_junk_phone("+56912345678")
    assert is_junk_email("sinmail@gmail.com") and is_junk_phone("+56900000000")


def test_scan_counts_rows_and_distinct_normalised_names_per_contact():
    triples = [
        (("Ana Soto", "", "912345257"), 3),
        (("ANA SOTO", "", "912345257"), 1),
        (("Bea Rojas", "", "912345257"), 1),
        (("Caro Díaz", "", "+56 9 1234 5257"), 2),
        (("Caro Díaz", "caro@example.org", ""), 1),
    ]
    scan = scan_contacts(triples, Identity.from_cells, threshold=3)
    [shared] = scan.shared()
    assert (shared.contact, shared.rows, shared.names) == ("+56912345257", 7, 3)


def test_dropping_contacts_keeps_the_natural_key_of_the_cells():
    identity = Identity.from_cells("Ana Soto", "ana@example.org", "912345257")
    scrubbed = identity.without({"+56912345257"})
    assert (scrubbed.email, scrubbed.phone) == ("ana@example.org", None)
    assert scrubbed.natural_key == identity.natural_key == "ana@example.org|+56912345257|ana soto"
