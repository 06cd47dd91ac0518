"""The small helpers behind the phone layout: the phone copy of long charts and emails that wrap cleanly."""

from crm.services.charts import NARROW_MAX_LABELS, NARROW_WIDTH, bar_chart
from crm.templatetags.crm_pages import email_breaks


def months(count):
    return [(f"m{index}", 1_000 * (index + 1), f"Mes {index}") for index in range(count)]


def test_a_long_chart_gets_a_phone_copy_with_at_most_four_axis_labels():
    chart = bar_chart(months(24), label_every=3)

    assert chart.narrow is not None
    assert chart.narrow.width == str(NARROW_WIDTH)
    labels = [bar.label for bar in chart.narrow.bars if bar.label]
    assert labels == ["m5", "m11", "m17", "m23"]  # every 6th month, the latest always labelled
    assert len(labels) <= NARROW_MAX_LABELS
    assert [bar.title for bar in chart.narrow.bars] == [bar.title for bar in chart.bars]  # same data
    assert chart.narrow.narrow is None


def test_short_narrow_or_categorical_charts_have_no_phone_copy():
    assert bar_chart(months(NARROW_MAX_LABELS), label_every=3).narrow is None
    assert bar_chart(months(24), label_every=3, width=NARROW_WIDTH).narrow is None
    assert bar_chart(months(24)).narrow is None  # every bar labelled: dropping labels would hide categories


def test_the_last_axis_label_has_room_inside_the_chart():
    chart = bar_chart(months(24), width=360)
    assert float(chart.bars[-1].label_x) <= 360 - 20


def test_email_breaks_only_after_dots_and_dashes_and_before_the_at():
    html = email_breaks("maria.fernanda@ejemplo-correo.cl")
    assert html == "maria.<wbr>fernanda<wbr>@ejemplo-<wbr>correo.<wbr>cl"


def test_email_breaks_escapes_the_address_first():
    assert email_breaks('<b>"x"@y.cl') == "&lt;b&gt;&quot;x&quot;<wbr>@y.<wbr>cl"
    assert email_breaks("") == "" and email_breaks(None) == ""
