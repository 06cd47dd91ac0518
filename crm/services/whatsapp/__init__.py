"""The daily WhatsApp retention tray: who to contact today, a ready message, one click to chat, every answer
recorded (issue 14).

- `eligibility`: who may be contacted (every rule a queryset filter);
- `tiers`: the priority tiers and their written rules;
- `messages`: templates, variables, the stop line, the optional rewrite, the wa.me link;
- `tray`: `build_tray(day, size=...)` (idempotent per day) and `tray_page(day)`;
- `outcomes`: `record_outcome(item_id=..., outcome=..., user=...)`;
- `results`: contacted vs control, reply rates per template and operator;
- `cloud_api`: optional sending through the WhatsApp Business Cloud API after an operator approves.
"""

from crm.services.whatsapp import cloud_api
from crm.services.whatsapp.errors import WhatsAppError
from crm.services.whatsapp.outcomes import parse_outcome, record_outcome
from crm.services.whatsapp.tray import build_tray, tray_page

__all__ = ["WhatsAppError", "build_tray", "cloud_api", "parse_outcome", "record_outcome", "tray_page"]
