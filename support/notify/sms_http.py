"""SMS through a generic JSON HTTP gateway.

Gateways differ mostly in field names, so those are settings. A 2xx answer carrying a
message id means the gateway took the message; a 4xx means it never will (bad number,
bad token): permanent; a 5xx, a timeout or a refused connection is retried.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx2

from support.notify.backends import DeliveryError


@dataclass(frozen=True)
class GatewaySettings:
    url: str
    token: str = ""
    to_field: str = "to"
    text_field: str = "text"
    id_field: str = "id"
    timeout: float = 15.0


class HttpSmsBackend:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings

    async def send(self, to: str, text: str) -> None:
        s = self.settings
        headers = {"authorization": f"Bearer {s.token}"} if s.token else {}
        try:
            async with httpx2.AsyncClient(timeout=s.timeout) as http:
                answer = await http.post(s.url, json={s.to_field: to, s.text_field: text},
                                         headers=headers)
        except httpx2.TransportError as exc:
            raise DeliveryError(f"gateway unreachable: {type(exc).__name__}",
                                unreachable=True) from exc
        if 400 <= answer.status_code < 500:
            raise DeliveryError(f"gateway refused: HTTP {answer.status_code} "
                                f"{answer.text[:200]}", permanent=True)
        if not 200 <= answer.status_code < 300:
            raise DeliveryError(f"gateway error: HTTP {answer.status_code}")
        try:
            accepted = answer.json().get(s.id_field)
        except (ValueError, AttributeError):
            accepted = None
        if not accepted:
            raise DeliveryError(f"gateway answered {answer.status_code} without an id")
