"""`python manage.py generate_proposals --segment at_risk [--limit 100] [--send] [--dry-run]`

Runs a campaign in this process (no worker needed) with a progress bar: the same service, the same outbox
rows and the same rules as the campaigns page. Without --send the campaign stops for review on the page.
"""

from django.core.management.base import BaseCommand, CommandError

from crm.models import Campaign
from crm.services import campaigns
from crm.services.rfm import SEGMENTS


class Command(BaseCommand):
    help = "Genera (y opcionalmente envía) propuestas para los clientes de un segmento RFM."

    def add_arguments(self, parser):
        parser.add_argument("--segment", required=True, choices=list(SEGMENTS), help="Segmento RFM, p. ej. at_risk.")
        parser.add_argument("--limit", type=int, default=None, help="Máximo de clientes (los de mayor gasto).")
        parser.add_argument(
            "--not-contacted-days", type=int, default=None, help="Solo clientes sin propuesta en los últimos N días."
        )
        parser.add_argument("--send", action="store_true", help="Enviar sin revisión previa.")
        parser.add_argument("--dry-run", action="store_true", help="Solo contar; no genera ni envía nada.")

    def handle(self, *args, segment, limit, not_contacted_days, send, dry_run, **options):
        try:
            opts = campaigns.CampaignOptions(
                segment=segment,
                limit=limit,
                not_contacted_days=not_contacted_days,
                mode=Campaign.Mode.SEND if send else Campaign.Mode.GENERATE,
            )
        except campaigns.CampaignError as exc:
            raise CommandError(str(exc)) from exc

        preview = campaigns.preview(opts)
        self.stdout.write(
            f"{preview.total} clientes en «{SEGMENTS[segment].label}»: {preview.will_receive} recibirían propuesta; "
            f"se omiten {preview.opted_out} dados de baja, {preview.no_email} sin email y "
            f"{preview.recently_contacted} con una propuesta reciente"
            + (f"; {preview.control} en el grupo de control (no se contactan)." if preview.control else ".")
        )
        if dry_run:
            self.stdout.write("--dry-run: no se generó ni envió nada.")
            return
        try:
            campaign = campaigns.start_campaign(options=opts, enqueue=False)
        except campaigns.CampaignError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Campaña #{campaign.pk} creada.")
        result = campaigns.run_campaign(campaign.pk, progress=self._progress)
        self.stdout.write("")
        reasons = ", ".join(f"{row['label']}: {row['count']}" for row in result["skipped_by_reason"]) or "ninguno"
        self.stdout.write(
            self.style.SUCCESS(
                f"Campaña #{campaign.pk} ({result['status_label']}): {result['generated']} por revisar, "
                f"{result['sent']} enviadas, {result['failed']} fallidas, {result['skipped']} omitidos ({reasons})."
            )
        )
        if result["status"] == Campaign.Status.REVIEW:
            self.stdout.write("Revisa y aprueba el envío en /ventas/crm/campanas/ (o repite con --send).")

    def _progress(self, phase: str, done: int, total: int) -> None:
        label = "Generando" if phase == "generate" else "Enviando"
        width = 30
        filled = width * done // total if total else width
        line = f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}"
        if self.stdout.isatty():
            self.stdout.write(line, ending="")
        elif done == total or done % 50 == 0:
            self.stdout.write(line.strip())
