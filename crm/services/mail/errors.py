"""Every refusal or failure of the mail services; `str()` is a Spanish message for staff."""

from __future__ import annotations


class MailError(Exception):
    """Base of every refusal or failure of crm.services.mail."""

    reason = "error"


class SendRefused(MailError):
    """The send was not attempted (views answer 409). `needs_confirmation`: staff may confirm and retry."""

    needs_confirmation = False


class CustomerOptedOut(SendRefused):
    reason = "opted_out"


class NoValidEmail(SendRefused):
    reason = "no_email"


class CustomerRestricted(SendRefused):
    """Temporary block or objection to profiling (Ley 21.719): no proposals until lifted."""

    reason = "restricted"


class RecentlyContacted(SendRefused):
    reason = "recent_contact"
    needs_confirmation = True


class ProposalNotSendable(SendRefused):
    """Already sent, being sent right now, or discarded."""

    reason = "not_sendable"


class SendInterrupted(SendRefused):
    """An earlier send of this proposal was interrupted and may or may not have reached the customer."""

    reason = "interrupted"
    needs_confirmation = True


class DeliveryFailed(MailError):
    """The SMTP server refused the message or could not be reached; the proposal is left `failed`."""

    reason = "delivery_failed"


class GenerationFailed(MailError):
    """No proposal could be generated to send (the proposal backend failed or is not configured)."""

    reason = "generation_failed"

    def __init__(self, message: str, *, status_code: int = 502):
        super().__init__(message)
        # 503 (not configured), 504 (timeout) or 502; never a 500 for an upstream problem.
        self.status_code = status_code if 400 <= status_code < 600 and status_code != 500 else 502


class InvalidUnsubscribeToken(MailError):
    reason = "invalid_token"
