"""A real server, Debian's Chromium, screenshots of every step, and axe-core on every page.

The app runs under uvicorn inside the test's event loop (so the tests share its database
and outbox), on a loopback port bound before the settings are made: the CSRF check compares
the browser's Origin with ``base_url``, so the two must agree.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from starlette.applications import Starlette

from support.config import Settings

ROOT = Path(__file__).resolve().parent.parent.parent
CHROMIUM = "/usr/bin/chromium"
AXE = ROOT / ".cache/axe/node_modules/axe-core/axe.min.js"
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

if not Path(CHROMIUM).exists() or not AXE.exists():  # pragma: no cover - make test installs both
    pytest.fail(f"browser tests need {CHROMIUM} and {AXE}: run them through `make test`",
                pytrace=False)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        await chromium.close()


@pytest.fixture
def bound_socket() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


@pytest.fixture
def settings(settings: Settings, bound_socket: socket.socket) -> Settings:
    """The root fixture's settings, served at the bound port."""
    port = bound_socket.getsockname()[1]
    return settings.with_(base_url=f"http://127.0.0.1:{port}")


@pytest.fixture
async def live(app: Starlette, settings: Settings, bound_socket: socket.socket) -> AsyncIterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[bound_socket]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    yield settings.base_url
    server.should_exit = True
    await task


@dataclass
class Recorder:
    """Numbered screenshots per test, and axe-core's verdict on a page."""

    folder: Path
    count: int = 0
    axe_checked: list[str] = field(default_factory=list)

    async def shot(self, page: Page, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path

    async def axe(self, page: Page) -> None:
        """No serious or critical violation, on the page as the user sees it now."""
        if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
            await page.add_script_tag(path=str(AXE))
        results: dict[str, Any] = await page.evaluate(
            "async () => await axe.run(document, {resultTypes: ['violations']})"
        )
        bad = [
            f"{v['id']} ({v['impact']}): {v['help']} at "
            + ", ".join(str(node["target"]) for node in v["nodes"][:5])
            for v in results["violations"] if v["impact"] in ("serious", "critical")
        ]
        assert not bad, f"axe on {page.url}:\n" + "\n".join(bad)
        self.axe_checked.append(page.url)

    async def step(self, page: Page, name: str, *, axe: bool = True) -> None:
        await self.shot(page, name)
        if axe:
            await self.axe(page)


@pytest.fixture
def recorder(request: pytest.FixtureRequest) -> Recorder:
    folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return Recorder(folder)


@pytest.fixture
async def new_context(browser: Browser) -> AsyncIterator[Any]:
    """Separate people get separate browsers (cookies): the applicant, each reviewer."""
    opened: list[BrowserContext] = []

    async def make(viewport: dict[str, int] = DESKTOP, *, bypass_csp: bool = True,
                   **options: Any) -> BrowserContext:
        # bypass_csp lets axe-core be injected; the app's own pages run no inline script
        # (test_desk_keys' journey under the real policy, bypass_csp=False, shows it).
        context = await browser.new_context(viewport=viewport, bypass_csp=bypass_csp,
                                            **options)
        context.set_default_timeout(10_000)
        opened.append(context)
        return context

    yield make
    for context in opened:
        await context.close()
