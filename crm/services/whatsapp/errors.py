class WhatsAppError(Exception):
    """A tray operation that cannot be done (Spanish message for staff; views answer 4xx)."""
