"""The training/evaluation report as text lines (shared by train_recommender and evaluate_recommendations)."""

from __future__ import annotations

from crm.services.recommender.model import ENGINE, LABELS
from crm.services.recommender.training import TrainingReport
from ventas.formatting import format_date, format_number


def _pct(value: float) -> str:
    return f"{value:.1%}"


def report_lines(report: TrainingReport) -> list[str]:
    k = report.k
    lines = [
        f"Datos: {format_date(report.data_from)} a {format_date(report.data_to)}. Ajuste: ventanas desde el"
        f" {format_date(report.inner_cutoff)} hasta el {format_date(report.cutoff)}, con rasgos anteriores a cada"
        f" ventana y etiquetas dentro de ella ({format_number(report.training_customers)} ejemplos de cliente).",
        f"Evaluación: primera visita desde el {format_date(report.cutoff)} de"
        f" {format_number(report.heldout.customers)} clientes con historial previo (nunca las visitas del ajuste).",
    ]
    if report.heldout.unpredictable:
        lines.append(
            f"Sin contar {report.heldout.unpredictable} clientes cuya visita no incluyó servicios activos del catálogo."
        )
    lines += report.notes
    header = (
        f"{'':<24}{'aciertos':>9}{f'hit-rate@{k}':>13}{f'recall@{k}':>11}{f'NDCG@{k}':>9}{'repetidos':>11}{'nuevos':>9}"
    )
    lines.append(header)
    for item in report.candidates:
        m = item.metrics
        lines.append(
            f"{LABELS[item.kind]:<24}{m['hits']:>9}{_pct(m['hit_rate']):>13}{_pct(m['recall']):>11}"
            f"{m['ndcg']:>9.3f}{_pct(m['repeat_hit_rate']):>11}{_pct(m['new_hit_rate']):>9}"
        )
    first = report.candidates[0].metrics
    lines.append(
        f"Clientes con servicios repetidos en su visita: {first['repeat_customers']}; con servicios nuevos:"
        f" {first['new_customers']} (hit-rate de cada parte en sus columnas)."
    )
    engine = report.candidate(ENGINE).metrics
    best = max((item for item in report.candidates if item.kind != ENGINE), key=lambda item: item.metrics["hit_rate"])
    if best.metrics["hit_rate"]:
        ratio = engine["hit_rate"] / best.metrics["hit_rate"]
        lines.append(f"Motor / mejor línea base ({LABELS[best.kind]}): {ratio:.2f}×".replace(".", ","))
    chosen = report.chosen
    m = chosen.metrics
    lines.append(f"Modelo elegido: {LABELS[chosen.kind]}")
    lines.append(
        f"Calibración top-1 ({LABELS[chosen.kind]}, validación cruzada): confianza media {_pct(m['top1_confidence'])},"
        f" acierto observado {_pct(m['top1_hit_rate'])}"
    )
    lines.append(f"Confiabilidad ({LABELS[chosen.kind]}, top-{k}): confianza -> acierto observado")
    for row in m["reliability"]:
        lines.append(
            f"  {row['from']:>4.0%}–{row['to']:>4.0%}: {row['n']:>7} recomendaciones,"
            f" confianza {_pct(row['confidence'])}, observado {_pct(row['observed'])}"
        )
    return lines
