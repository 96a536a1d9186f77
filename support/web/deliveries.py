"""The delivery log for leads and admins: what was sent, what failed and why, and a
"retry now" for a message someone has fixed the cause of. Events posted to the maker's
endpoints are rows of the ``webhook`` channel, shown with their endpoint's address (never
its secret) and filtered by endpoint from the webhooks page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from support.data.ids import parse_id
from support.data.models import Channel, DeliveryStatus, Notification, WebhookEndpoint
from support.notify.outbox import retry_now
from support.notify.webhooks import endpoint_id_of, recipient
from support.reads.wording import MESSAGE_WORDS
from support.web import params
from support.web.auth import render_review, requires
from support.web.forms import read_small_form

PAGE = 100


@requires("lead")
async def deliveries(request: Request) -> Response:
    status = request.query_params.get("status", "")
    channel = request.query_params.get("channel", "")
    template = params.text(request, "template", 64)  # a NUL was a 500 on PostgreSQL
    query = Notification.all()
    if status in {s.value for s in DeliveryStatus}:
        query = query.filter(status=status)
    elif status == "failing":
        query = query.filter(status=DeliveryStatus.PENDING, attempts__gt=0)
    if channel in {c.value for c in Channel}:
        query = query.filter(channel=channel)
    if template:
        query = query.filter(template=template)
    endpoint = parse_id(params.text(request, "endpoint", 16))
    if endpoint is not None:
        query = query.filter(channel=Channel.WEBHOOK, recipient=recipient(endpoint))
    rows = await query.order_by("-created_at", "-id").limit(PAGE).select_related("application")
    counts = {s.value: await Notification.filter(status=s).count() for s in DeliveryStatus}
    counts["failing"] = await Notification.filter(status=DeliveryStatus.PENDING,
                                                  attempts__gt=0).count()
    return render_review(request, "review/deliveries.html", {
        "rows": rows, "counts": counts, "status": status, "channel": channel,
        "template": template, "notice": request.query_params.get("notice", ""),
        "endpoint": endpoint, "endpoints": await _endpoints(rows, endpoint),
        # The filters offer words; their values stay the codes the rows hold.
        "channels": [c.value for c in Channel],
        "messages": sorted(MESSAGE_WORDS.items(), key=lambda item: item[1]),
    })


async def _endpoints(rows: list[Notification], chosen: int | None) -> dict[str, str]:
    """The address of each endpoint the webhook rows name (``recipient`` → URL), read
    without its secret; an endpoint that is gone is said so."""
    ids = {number for row in rows if row.channel is Channel.WEBHOOK
           if (number := endpoint_id_of(row.recipient)) is not None}
    if chosen is not None:
        ids.add(chosen)
    found = {
        recipient(number): url + (" (disabled)" if disabled_at is not None else "")
        for number, url, disabled_at in await WebhookEndpoint.filter(id__in=ids).values_list(
            "id", "url", "disabled_at")
    } if ids else {}
    return {**{recipient(number): "an endpoint that no longer exists" for number in ids},
            **found}


@requires("lead")
async def retry(request: Request) -> Response:
    await read_small_form(request)
    chosen = params.path_id(request, "notification_id")  # 30 digits: nothing, not a 500
    done = chosen is not None and await retry_now(chosen)
    return RedirectResponse(
        f"/review/admin/deliveries?notice={'retrying' if done else 'nothing'}", 303
    )


def routes() -> list[Route]:
    return [
        Route("/review/admin/deliveries", deliveries, methods=["GET"]),
        Route("/review/admin/deliveries/{notification_id:int}/retry", retry, methods=["POST"]),
    ]
