"""Client for the legacy AI proposal server, and the `remote` proposal backend built on it.

Contract (all JSON; headers `X-API-Key: PROPOSAL_SERVER_API_KEY` and `X-Tenant: PROPOSAL_SERVER_TENANT`):

- `GET  {PROPOSAL_SERVER_URL}/proposals/customer/<id>`          -> a proposal (optionally wrapped in `proposal`)
- `POST {PROPOSAL_SERVER_URL}/proposals/send/<id>`              -> the server's send result
- `POST {PROPOSAL_SERVER_URL}/proposals/batch?segment=&limit=`  -> the server's batch result (60 s timeout)
- `GET  {PROPOSAL_SERVER_URL}/health`                           -> health status

A synchronous `httpx.Client` (views are synchronous: no event loop per request). The server's proposals are
validated and sanitised exactly like Claude's (`schema.validate_answer`), against the whole active catalogue.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from django.conf import settings

from crm.services.proposals.errors import ProposalBackendError, ProposalConfigurationError, ProposalTimeout
from crm.services.proposals.schema import INSIGHT_KEYS, Draft, validate_answer

logger = logging.getLogger(__name__)


class ProposalServerClient:
    """The legacy proposal server's HTTP contract; every method returns parsed JSON or raises ProposalError."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        tenant: str,
        timeout: float = 30.0,
        batch_timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ):
        if not base_url:
            raise ProposalConfigurationError(
                "Falta configurar PROPOSAL_SERVER_URL para usar el servidor de propuestas.",
                detail="PROPOSAL_SERVER_URL",
            )
        if not api_key:
            raise ProposalConfigurationError(
                "Falta configurar PROPOSAL_SERVER_API_KEY para usar el servidor de propuestas.",
                detail="PROPOSAL_SERVER_API_KEY",
            )
        self.batch_timeout = batch_timeout
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"X-API-Key": api_key, "X-Tenant": tenant, "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )

    @classmethod
    def from_settings(cls) -> ProposalServerClient:
        return cls(
            base_url=settings.PROPOSAL_SERVER_URL,
            api_key=settings.PROPOSAL_SERVER_API_KEY,
            tenant=settings.PROPOSAL_SERVER_TENANT,
        )

    def customer_proposal(self, cliente_id: int) -> dict:
        return self._call("GET", f"/proposals/customer/{int(cliente_id)}")

    def send(self, cliente_id: int) -> dict:
        return self._call("POST", f"/proposals/send/{int(cliente_id)}")

    def batch(self, *, segment: str, limit: int) -> dict:
        return self._call(
            "POST", "/proposals/batch", params={"segment": segment, "limit": int(limit)}, timeout=self.batch_timeout
        )

    def health(self) -> dict:
        return self._call("GET", "/health")

    def _call(self, method: str, path: str, **options: Any) -> dict:
        try:
            response = self.http.request(method, path, **options)
            response.raise_for_status()
            data = response.json()
        except httpx.TimeoutException as error:
            logger.warning("proposal server timeout on %s %s", method, path)
            raise ProposalTimeout("El servidor de propuestas no respondió a tiempo.") from error
        except httpx.HTTPStatusError as error:
            status = error.response.status_code
            logger.warning("proposal server HTTP %s on %s %s", status, method, path)
            raise ProposalBackendError(
                f"El servidor de propuestas respondió con un error ({status}).", detail=error.response.text[:500]
            ) from error
        except httpx.HTTPError as error:
            logger.warning("proposal server unreachable on %s %s: %s", method, path, error)
            raise ProposalBackendError(
                "No se pudo conectar con el servidor de propuestas.", detail=str(error)
            ) from error
        except ValueError as error:
            raise ProposalBackendError("El servidor de propuestas respondió algo que no es JSON.") from error
        if not isinstance(data, dict):
            raise ProposalBackendError("El servidor de propuestas respondió con un formato inválido.")
        return data


def _as_answer(data: dict) -> dict:
    """The server's proposal in validate_answer's shape (`email_body` is the HTML; insights may be a list)."""
    proposal = data.get("proposal", data)
    if not isinstance(proposal, dict):
        return {}
    insights = proposal.get("insights")
    if isinstance(insights, list):
        insights = dict(zip(INSIGHT_KEYS, insights, strict=False))
    return {**proposal, "insights": insights, "email_html": proposal.get("email_html", proposal.get("email_body"))}


class RemoteBackend:
    name = "remote"

    def __init__(self, *, client: ProposalServerClient):
        self.client = client

    @classmethod
    def from_settings(cls) -> RemoteBackend:
        return cls(client=ProposalServerClient.from_settings())

    def generate(self, request) -> Draft:
        data = self.client.customer_proposal(request.cliente.pk)
        answer = _as_answer(data)
        catalogue = request.catalogue
        valid = validate_answer(
            answer,
            candidates=catalogue.active,
            max_discount=request.max_discount,
            names={key: service.id for key, service in catalogue.by_key.items()},
        )
        return valid.draft(
            model=str(answer.get("model") or "proposal-server")[:100],
            prompt_version=str(answer.get("prompt_version") or "")[:40],
            input_snapshot={"cliente_id": request.cliente.pk, "endpoint": "/proposals/customer/<id>"},
            usage=answer["usage"] if isinstance(answer.get("usage"), dict) else {},
        )
