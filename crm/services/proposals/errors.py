"""The proposal service's own exceptions: views map them to HTTP status codes, never to a 500."""


class ProposalError(Exception):
    """Base class. `message` is Spanish and safe to show to staff."""

    status_code = 500

    def __init__(self, message: str, *, detail: str = ""):
        super().__init__(message)
        self.message = message
        self.detail = detail  # technical context for the log, never shown to users


class ProposalConfigurationError(ProposalError):
    """The chosen backend is missing a setting (API key, server URL) or does not exist."""

    status_code = 503


class ProposalBackendError(ProposalError):
    """The upstream engine failed or answered something we refuse to store."""

    status_code = 502


class ProposalTimeout(ProposalBackendError):
    """The upstream engine did not answer in time."""

    status_code = 504


class ProfilingRestricted(ProposalError):
    """The customer blocked the processing of their data or objected to profiling (Ley 21.719)."""

    status_code = 409


class NoActiveServices(ProposalError):
    """No active catalogue service can be recommended: no proposal is made (never an empty one)."""

    status_code = 409

    def __init__(self):
        super().__init__(
            "El catálogo no tiene servicios activos: importa el historial o agrega servicios en Administración",
            detail="no active Servicio",
        )
