"""Headless Chromium for the UI tests: Debian's `chromium` through Playwright with
executable_path (no browser of Playwright's own is ever downloaded), and Airflow's sign-in
form. Screenshots are kept under .local/test-artifacts/ui/."""

from __future__ import annotations

import contextlib
import os
import shutil

from tests.airflow.conftest import REPO

CHROMIUM = os.environ.get("RETRAIN_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = REPO / ".local" / "test-artifacts" / "ui"
# Flags for a closed network: no background connections, no first-run or sync.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def check_chromium() -> None:
    assert shutil.which(CHROMIUM) or os.path.exists(CHROMIUM), (
        f"{CHROMIUM} is missing; `make test` installs Debian's chromium"
    )


@contextlib.contextmanager
def chromium():
    """A headless Chromium browser (Playwright's), closed after."""
    from playwright.sync_api import sync_playwright

    check_chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def sign_in(page, base: str, user: str, password: str) -> None:
    """Airflow's own sign-in form (SimpleAuthManager), as a person fills it."""
    page.goto(f"{base}/")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")
