"""Email to customers, split by job:

- `errors`: the refusals and failures (Spanish messages; views map them to 409/502/...);
- `tokens`: signed unsubscribe links and the opt-out they record;
- `mailer`: the SMTP boundary (one message, unsubscribe headers, one retry on a temporary refusal), and the
  demo note when the backend only prints to the console;
- `rules`: "can this customer receive a proposal now" (consent, email, frequency cap), one answer for everyone;
- `sending`: exactly-once sending, the profile's send button and panel.

`crm.services.mail.X` keeps working for every public name below.
"""

from crm.services.mail.errors import (
    CustomerOptedOut,
    CustomerRestricted,
    DeliveryFailed,
    GenerationFailed,
    InvalidUnsubscribeToken,
    MailError,
    NoValidEmail,
    ProposalNotSendable,
    RecentlyContacted,
    SendInterrupted,
    SendRefused,
)
from crm.services.mail.mailer import (
    Mailer,
    default_mailer,
    delivery_note,
    emails_stay_on_console,
    preview_text,
    single_line,
)
from crm.services.mail.rules import (
    RULES,
    check_can_receive,
    has_valid_email,
    last_contact,
    refusal,
    with_last_sent_at,
)
from crm.services.mail.sending import (
    DUPLICATE_GUARD,
    SENDABLE,
    SendPanel,
    expire_stuck_sends,
    send_lease,
    send_panel,
    send_proposal,
    send_to_customer,
)
from crm.services.mail.tokens import cliente_for_token, unsubscribe, unsubscribe_token, unsubscribe_url

__all__ = [
    "DUPLICATE_GUARD",
    "RULES",
    "SENDABLE",
    "CustomerOptedOut",
    "CustomerRestricted",
    "DeliveryFailed",
    "GenerationFailed",
    "InvalidUnsubscribeToken",
    "MailError",
    "Mailer",
    "NoValidEmail",
    "ProposalNotSendable",
    "RecentlyContacted",
    "SendInterrupted",
    "SendPanel",
    "SendRefused",
    "check_can_receive",
    "cliente_for_token",
    "default_mailer",
    "delivery_note",
    "emails_stay_on_console",
    "expire_stuck_sends",
    "has_valid_email",
    "last_contact",
    "preview_text",
    "refusal",
    "send_lease",
    "send_panel",
    "send_proposal",
    "send_to_customer",
    "single_line",
    "unsubscribe",
    "unsubscribe_token",
    "unsubscribe_url",
    "with_last_sent_at",
]
