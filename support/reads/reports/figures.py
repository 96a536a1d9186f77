"""What the reports page shows, read in a fixed handful of statements.

Thirty days of rollups (``rollup.py``) for everything with a history, today's included (as
of the worker's last run, at most a minute old), and one live count: messages that could
not be delivered, which a lead may have just retried. None of these statements reads more
rows as the desk grows: rollups are a few hundred rows a month, and the dead messages are
counted from their own index (``notification_status_channel_idx``), never the table.

The overdue count was live at first; at a million applications it read every open
application's index entry (about 70,000) on each page view, the page's largest cost
(bench/README.md, B5). The worker's per-minute run reads those entries anyway for the
backlog, so it counts the overdue ones in the same statement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from tortoise.functions import Count, Max, Min, Sum

from support.data.models import DeliveryStatus, Notification, ReportDay, ReportDuration
from support.reads.reports.histogram import Bucket, merged, percentile
from support.reads.reports.rollup import window
from support.rules.countries import country_codes, country_name
from support.rules.kinds import KINDS

PERCENTILES = (0.5, 0.9)
CHANNELS = ("email", "sms")


@dataclass(frozen=True)
class Share:
    """Decisions on one kind, country or model over the window."""

    key: str
    label: str
    approved: int
    rejected: int

    @property
    def decisions(self) -> int:
        return self.approved + self.rejected

    @property
    def approved_share(self) -> float | None:
        return self.approved / self.decisions if self.decisions else None


@dataclass(frozen=True)
class Timing:
    """Time from confirmation to decision over the window: median and 90th percentile."""

    key: str
    label: str
    decisions: int
    median: float | None
    p90: float | None


@dataclass
class Report:
    days: list[date]
    kinds: list[str]
    backlog: dict[date, dict[str, int]]
    overdue: dict[date, dict[str, int]]
    approved: dict[date, int]
    rejected: dict[date, int]
    timings: list[Timing]
    shares: dict[str, list[Share]]
    dead: dict[str, int]
    computed_at: datetime | None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def has_rollups(self) -> bool:
        return self.computed_at is not None

    def kind_label(self, kind: str) -> str:
        return kind_label(kind)


def kind_label(kind: str) -> str:
    return KINDS[kind].title if kind in KINDS else kind


def _label(dimension: str, key: str) -> str:
    if dimension == "kind":
        return kind_label(key)
    if dimension == "country":
        return f"{country_name(key, 'en')} ({key})" if key in country_codes() else key
    return key


def format_duration(seconds: float | None) -> str:
    """'45 min', '18 h 20 min', '2 d 4 h': precise enough to compare, short enough to scan."""
    if seconds is None:
        return "–"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        hours, minutes = divmod(minutes, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(round(seconds / 3600), 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


async def _shares(start: date, by_kind: dict[str, list[int]]) -> dict[str, list[Share]]:
    rows = await ReportDay.filter(day__gte=start, dimension__in=("country", "model")).annotate(
        a=Sum("approved"), r=Sum("rejected")
    ).group_by("dimension", "key").values_list("dimension", "key", "a", "r")
    shares: dict[str, list[Share]] = {
        "kind": [Share(kind, kind_label(kind), counts[0], counts[1])
                 for kind, counts in by_kind.items() if counts[0] + counts[1]],
        "country": [], "model": [],
    }
    for dimension, key, approved, rejected in rows:
        if int(approved or 0) + int(rejected or 0):
            shares[str(dimension)].append(Share(str(key), _label(str(dimension), str(key)),
                                                int(approved or 0), int(rejected or 0)))
    for items in shares.values():
        items.sort(key=lambda share: (-share.decisions, share.label))
    return shares


async def _timings(start: date, kinds: list[str]) -> list[Timing]:
    rows = await ReportDuration.filter(day__gte=start).annotate(
        n=Sum("count"), low=Min("min_seconds"), high=Max("max_seconds")
    ).group_by("kind", "bucket").values_list("kind", "bucket", "n", "low", "high")
    by_kind: dict[str, list[Bucket]] = {}
    for kind, index, n, low, high in rows:
        by_kind.setdefault(str(kind), []).append(Bucket(int(index), int(n), int(low), int(high)))
    timings = []
    every: list[Bucket] = []
    for kind in [*kinds, *sorted(set(by_kind) - set(kinds))]:
        buckets = merged(by_kind.get(kind, []))
        every.extend(buckets)
        timings.append(Timing(kind, kind_label(kind), sum(b.count for b in buckets),
                              *(percentile(buckets, p) for p in PERCENTILES)))
    overall = merged(every)
    timings.append(Timing("all", "All kinds", sum(b.count for b in overall),
                          *(percentile(overall, p) for p in PERCENTILES)))
    return timings


async def load(now: datetime | None = None) -> Report:
    now = now or datetime.now(UTC)
    days = window(now.astimezone(UTC).date())
    kinds = list(KINDS)
    backlog: dict[date, dict[str, int]] = {day: {} for day in days}
    overdue: dict[date, dict[str, int]] = {day: {} for day in days}
    approved = dict.fromkeys(days, 0)
    rejected = dict.fromkeys(days, 0)
    by_kind: dict[str, list[int]] = {kind: [0, 0] for kind in kinds}
    computed_at: datetime | None = None
    for day, kind, a, r, open_count, late, written in await ReportDay.filter(
        day__gte=days[0], dimension="kind"
    ).values_list("day", "key", "approved", "rejected", "backlog", "overdue", "computed_at"):
        if day not in backlog:
            continue
        kind = str(kind)
        backlog[day][kind] = int(open_count or 0)
        overdue[day][kind] = int(late or 0)
        approved[day] += int(a)
        rejected[day] += int(r)
        by_kind.setdefault(kind, [0, 0])
        by_kind[kind][0] += int(a)
        by_kind[kind][1] += int(r)
        if kind not in kinds:
            kinds.append(kind)
        computed_at = written if computed_at is None else max(computed_at, written)
    dead = dict.fromkeys(CHANNELS, 0)
    # COUNT(channel), not COUNT(id): every column read is in the index, so the table is not.
    for channel, n in await Notification.filter(status=DeliveryStatus.DEAD).annotate(
        n=Count("channel")
    ).group_by("channel").values_list("channel", "n"):
        dead[str(channel)] = int(n)
    return Report(
        days=days, kinds=kinds, backlog=backlog, overdue=overdue, approved=approved,
        rejected=rejected, timings=await _timings(days[0], kinds),
        shares=await _shares(days[0], by_kind), dead=dead, computed_at=computed_at, now=now,
    )
