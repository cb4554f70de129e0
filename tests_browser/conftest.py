"""Fixtures of the browser suite: the service under gunicorn, Debian's Chromium driven by
Playwright, and a page that may reach 127.0.0.1 only (the docs must work offline)."""

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import sync_playwright

from tests_browser.server import Service

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def chromium_path() -> str:
    """Playwright cannot download its own browsers here: the distribution's Chromium."""
    path = os.environ.get("CHROMIUM") or shutil.which("chromium")
    path = path or shutil.which("chromium-browser")
    if not path:
        raise pytest.UsageError(
            "Chromium was not found: install it (apt-get install -y chromium) or set CHROMIUM "
            "to its path."
        )
    return path


@pytest.fixture(scope="session")
def service(tmp_path_factory):
    running = Service(tmp_path_factory.mktemp("service")).start()
    yield running
    running.stop()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "gunicorn.log").write_text(running.log())


@pytest.fixture(scope="session")
def browser():
    # Chromium refuses to run as root with its sandbox; a container's /dev/shm may be tiny.
    args = ["--disable-dev-shm-usage", *(["--no-sandbox"] if os.geteuid() == 0 else [])]
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=args
        )
        yield chromium
        chromium.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser, service, request):
    """A fresh browser page. Every request it makes is recorded; one for any host but the
    service's is refused and fails the test. A failed test leaves a screenshot in
    tests_browser/artifacts/."""
    context = browser.new_context(base_url=service.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    local = urlsplit(service.url).netloc
    foreign: list[str] = []

    def only_local(route):
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).netloc == local:
            route.continue_()
        else:
            foreign.append(url)
            route.abort()

    context.route(re.compile(".*"), only_local)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    failed = getattr(request.node, "report_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / f"{request.node.name}.png", full_page=True)
    context.close()
    assert foreign == [], f"the page asked another host: {foreign}"
    assert errors == [], f"JavaScript errors: {errors}"
