"""Shared bits of the real-Chromium tests: the Debian browser, its flags, and joining a room."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
UI_WAIT_MS = 20_000

# Skipped only on a developer machine without Chromium; in CI (env CI set) a missing browser fails.
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason="needs Debian's chromium at /usr/bin/chromium (scripts/test installs it; required in CI)",
)


async def join(context, url: str, name: str, errors: list[str]):
    """Open the room, pick a name, join. Console errors (CSP violations, script errors) go to `errors`."""
    page = await context.new_page()
    page.on("console", lambda msg: errors.append(f"{name}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"{name}: {exc}"))
    await page.goto(url)
    await page.fill("#join-name", name)
    await page.click("#join-form button[type=submit]")
    await page.wait_for_selector("#join", state="hidden", timeout=UI_WAIT_MS)
    await page.wait_for_selector("#message-input", state="visible")
    return page
