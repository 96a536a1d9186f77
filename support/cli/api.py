"""``support api-key`` (create, list, revoke) and ``support signing-key rotate``: the maker's
service keys, the keys that sign unlock grants, and ``support webhook`` for the maker's
endpoints, from the command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from typing import Any

from support.cli.database import with_db
from support.config import Settings
from support.notify.webhooks import EVENTS
from support.web.api.registry import SCOPES
from support.workflow import api_keys, signing, webhooks


def add_parsers(commands: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    keys = command(
        commands, "api-key", "make, list or revoke the maker's API keys",
        "Keys for the maker's services calling /api/v1 (docs/api.md), each with a name and "
        "scopes: " + "; ".join(f"{k} ({v.rstrip('.').lower()})" for k, v in SCOPES.items())
        + ". A key is printed once, when it is made: only its hash is kept.",
        ["support api-key create unlock-service --scope permissions:read "
         "--scope permissions:redeem",
         "support api-key list", "support api-key revoke unlock-service"],
    )
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION",
                                  help="create, list or revoke")
    create = actions.add_parser("create", help="make a key and print it once")
    create.add_argument("name", help="what calls with it, e.g. unlock-service")
    create.add_argument("--scope", action="append", required=True, choices=sorted(SCOPES),
                        help="a scope the key holds (repeat for several)")
    actions.add_parser("list", help="every key: name, start, scopes, last use, revoked")
    revoke = actions.add_parser("revoke", help="stop a key working at once")
    revoke.add_argument("name", help="the key's name, as `support api-key list` shows it")
    keys.set_defaults(func=cmd_api_key)

    signing_key = command(
        commands, "signing-key", "rotate the key that signs unlock grants",
        "Make a new Ed25519 key to sign unlock grants. The old one stays published at "
        "/api/v1/keys until the grants it signed have expired (15 minutes), so tools that "
        "verify offline keep working through a rotation.",
        ["support signing-key rotate"],
    )
    signing_actions = signing_key.add_subparsers(dest="action", required=True,
                                                 metavar="ACTION",
                                                 help="rotate: a new key signs from now on")
    signing_actions.add_parser("rotate", help="make a new signing key; retire the current one")
    signing_key.set_defaults(func=cmd_signing_key)

    hooks = command(
        commands, "webhook", "register, list or disable the maker's webhook endpoints",
        "Endpoints the desk posts its events to (docs/api.md: " + ", ".join(EVENTS) + "), "
        "each delivery signed with the endpoint's secret, printed once when it is "
        "registered. The same as the admin page /review/admin/webhooks.",
        ["support webhook add https://unlock.maker.example/hooks --event permission.granted "
         "--event permission.redeemed",
         "support webhook list", "support webhook disable 3"],
    )
    hook_actions = hooks.add_subparsers(dest="action", required=True, metavar="ACTION",
                                        help="add, list or disable")
    add = hook_actions.add_parser("add", help="register an endpoint and print its secret once")
    add.add_argument("url", help="https:// address (http:// only on this machine)")
    add.add_argument("--event", action="append", required=True, choices=list(EVENTS),
                     help="an event to post there (repeat for several)")
    hook_actions.add_parser("list", help="every endpoint: id, address, events, state")
    off = hook_actions.add_parser("disable", help="stop posting to an endpoint at once")
    off.add_argument("id", type=int, help="the endpoint's id, as `support webhook list` shows")
    hooks.set_defaults(func=cmd_webhook)


def cmd_api_key(settings: Settings, args: argparse.Namespace) -> int:
    async def act() -> int:
        try:
            if args.action == "create":
                made = await api_keys.create(args.name, args.scope, SCOPES, by="cli")
                print(f"API key {made.row.name} ({', '.join(made.row.scopes)}):")
                print(made.secret)
                print("Keep it now: it is not shown again.", file=sys.stderr)
            elif args.action == "revoke":
                row = await api_keys.revoke(args.name, by="cli")
                print(f"API key {row.name} revoked.")
            else:
                rows = await api_keys.listed()
                if not rows:
                    print("No API keys. Make one: support api-key create NAME --scope ...")
                for row in rows:
                    used = row.last_used_at.isoformat(timespec="minutes") \
                        if row.last_used_at else "never used"
                    state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
                    print(f"{row.name}\t{row.prefix}…\t{','.join(row.scopes)}\t{used}\t{state}")
        except api_keys.KeyRefused as refused:
            print(f"support api-key: {refused}", file=sys.stderr)
            return 1
        return 0

    return asyncio.run(with_db(settings, act))


def cmd_signing_key(settings: Settings, args: argparse.Namespace) -> int:
    async def act() -> int:
        key = await signing.rotate()
        print(f"Signing key {key.kid} now signs grants; earlier keys stay published until "
              "their grants expire.")
        return 0

    return asyncio.run(with_db(settings, act))


def cmd_webhook(settings: Settings, args: argparse.Namespace) -> int:
    async def act() -> int:
        if args.action == "add":
            try:
                made = await webhooks.register(args.url, args.event, by="cli")
            except webhooks.WebhookRefused as refused:
                print(f"support webhook: {refused}", file=sys.stderr)
                return 1
            print(f"Webhook endpoint {made.endpoint.id}: {made.endpoint.url} "
                  f"({', '.join(made.endpoint.events)}). Its signing secret:")
            print(made.secret)
            print("Keep it now: it is not shown again.", file=sys.stderr)
        elif args.action == "disable":
            if await webhooks.disable(args.id, by="cli") is None:
                print(f"support webhook: no endpoint {args.id} in use", file=sys.stderr)
                return 1
            print(f"Webhook endpoint {args.id} disabled.")
        else:
            rows = await webhooks.listed()
            if not rows:
                print("No webhook endpoints. Add one: support webhook add URL --event ...")
            for row in rows:
                state = "disabled" if row.endpoint.disabled_at else "active"
                last = row.last.status.value if row.last else "nothing sent yet"
                print(f"{row.endpoint.id}\t{row.endpoint.url}\t"
                      f"{','.join(row.endpoint.events)}\t{state}\t{last}")
        return 0

    return asyncio.run(with_db(settings, act))
