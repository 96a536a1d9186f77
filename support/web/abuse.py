"""A request's abuse limiter (``platform.ratelimit``, made at start-up) and the address
its limits count against."""

from __future__ import annotations

import ipaddress

from starlette.requests import Request

from support.platform.ratelimit import Limiter


def limiter(request: Request) -> Limiter:
    found: Limiter = request.app.state.limiter
    return found


def client_ip(request: Request) -> str:
    """The address uvicorn reports: behind nginx, the one nginx saw (``--proxy-from``
    makes uvicorn read X-Forwarded-For from nginx alone, so a client cannot pick its own).

    An IPv6 client counts as its /64: one home or phone is given a whole /64 and could
    otherwise take a fresh address, and a fresh allowance, for every request."""
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
