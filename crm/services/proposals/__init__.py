"""Personalised proposals: one shape (`schema`), three engines (`local`, `anthropic_backend`, `remote`).

Use `generate_proposal(cliente=..., user=...)`; the engine comes from settings.PROPOSAL_BACKEND. Every engine
starts from the recommender's ranking (`crm.services.recommender`); with no active service to recommend,
`NoActiveServices` (409) is raised and nothing is stored.
"""

from crm.services.proposals.errors import (
    NoActiveServices,
    ProfilingRestricted,
    ProposalBackendError,
    ProposalConfigurationError,
    ProposalError,
    ProposalTimeout,
)
from crm.services.proposals.schema import UNSUBSCRIBE_MARKER
from crm.services.proposals.service import BACKENDS, generate_proposal, get_backend

__all__ = [
    "BACKENDS",
    "UNSUBSCRIBE_MARKER",
    "NoActiveServices",
    "ProfilingRestricted",
    "ProposalBackendError",
    "ProposalConfigurationError",
    "ProposalError",
    "ProposalTimeout",
    "generate_proposal",
    "get_backend",
]
