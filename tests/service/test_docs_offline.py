"""The API documentation (/docs, Swagger UI, and /redoc) on a machine with no network: its
scripts, styles and favicon come from the server itself, with the right content types and
without an API key, and the pages list the API's operations.

The browser tests drive Debian's Chromium with Playwright. Where the kernel allows it, the
server and the browser run in a network namespace of their own that holds nothing but a
loopback interface (`unshare -rn`); in any case the browser resolves no host but the
loopback and sends everything else to a dead proxy. Every request the pages make is
recorded: one to another host fails the test even though the cut stopped it, unless the
page's own Content-Security-Policy refused it before it was sent.

MODERATE_DOCS_SCREENSHOT=PATH saves the rendered /docs there (`make docs-screenshot`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from moderate.service.app import create_app
from moderate.settings import Settings
from tests.browser import CHROMIUM_ARGS, chromium
from tests.service.helpers import KEY, free_port, spawn, start, until_ready

LOOPBACK = frozenset({"127.0.0.1", "localhost"})
INLINE = frozenset({"data", "blob", "about"})  # schemes that fetch nothing
CORE = {"POST /v1/score", "POST /v1/threads:score", "GET /v1/model", "POST /v1/model:reload"}
OFFLINE_ARGS = [
    *CHROMIUM_ARGS,
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
    "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1;localhost",
]  # fmt: skip
# The subresources a page loads (links a reader may click, like ReDoc's footer, are not).
ASSETS_JS = """() => [...document.querySelectorAll('script[src], link[href], img[src]')]
    .map(e => e.src || e.href)"""
FETCH_JS = """async urls => Promise.all(urls.map(async url => {
    const r = await fetch(url, {cache: 'no-store'});
    return [url, r.status, r.headers.get('content-type')];
}))"""
CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
}


def leaves_the_machine(url: str) -> bool:
    """Whether fetching url would go to another host than this one."""
    parts = urlsplit(url)
    return parts.scheme not in INLINE and parts.hostname not in LOOPBACK


def operations(schema: dict[str, Any]) -> set[str]:
    """Every operation of an OpenAPI schema, as METHOD /path."""
    return {f"{method.upper()} {path}" for path, ops in schema["paths"].items() for method in ops}


# --- without a browser: the pages point only at this server --------------------------------


def test_docs_pages_and_their_assets_are_served_by_the_api_itself(artifacts: Path) -> None:
    with TestClient(create_app(Settings(artifacts_dir=artifacts, api_keys=KEY))) as client:
        assets = set()
        for page in ("/docs", "/redoc"):
            response = client.get(page)  # without a key, as before: the docs stay open
            assert response.status_code == 200, page
            assert "http://" not in response.text and "https://" not in response.text, page
            assert "default-src 'self'" in response.headers["content-security-policy"], page
            assets |= set(re.findall(r'(?:src|href)="(/[^"]+)"', response.text))
        assert {Path(a).suffix for a in assets} == set(CONTENT_TYPES), assets
        for asset in assets:
            response = client.get(asset)
            assert response.status_code == 200, asset
            assert response.headers["content-type"].startswith(CONTENT_TYPES[Path(asset).suffix])
        assert client.get("/openapi.json").status_code == 200


# --- in a browser with the network cut off --------------------------------------------------


def namespaces() -> bool:
    """Whether a network namespace with its loopback up can be made and entered here."""
    if not all(shutil.which(tool) for tool in ("unshare", "nsenter", "ip")):
        return False
    made = subprocess.run(["unshare", "-rn", "ip", "link", "set", "lo", "up"], capture_output=True)
    return made.returncode == 0


def entering(pid: int) -> list[str]:
    """The command prefix that runs a program in the network namespace of process pid."""
    return ["nsenter", f"--target={pid}", "--user", "--net", "--preserve-credentials"]


def start_isolated(artifacts: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`moderate serve` alone in a new network namespace (loopback only); its URL there."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    alone = ["unshare", "-rn", "sh", "-c", 'ip link set lo up && exec "$0" "$@"']
    process = spawn(artifacts, port, prefix=alone)
    probe = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)"
    command = [*entering(process.pid), sys.executable, "-c", probe, url + "/readyz"]
    try:
        until_ready(process, lambda: subprocess.run(command, capture_output=True).returncode == 0)
    except BaseException:
        process.terminate()
        raise
    return process, url


@dataclass
class Offline:
    """A server that answers only on the loopback, and a browser that can reach nothing else."""

    url: str
    browser: Any
    timeout: type[Exception]  # Playwright's TimeoutError


@pytest.fixture
def offline(artifacts: Path, tmp_path: Path) -> Iterator[Offline]:
    """A real server with API keys on, and a headless Chromium cut off from the network;
    skipped with the reason when there is no Chromium."""
    executable = chromium()
    playwright_api = pytest.importorskip("playwright.sync_api")
    if namespaces():
        process, url = start_isolated(artifacts)
        wrapper = tmp_path / "chromium-in-namespace"
        command = shlex.join([*entering(process.pid), executable])
        wrapper.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
        wrapper.chmod(0o755)
        executable = str(wrapper)
    else:
        process, client = start(artifacts)
        url = str(client.base_url).rstrip("/")
        client.close()
    try:
        with playwright_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=OFFLINE_ARGS)
            yield Offline(url, browser, playwright_api.TimeoutError)
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=60)


@dataclass
class Visit:
    """A page opened in its own context: every URL it requested, those its own
    Content-Security-Policy refused to fetch, its script errors, and whether it rendered."""

    page: Any
    requested: list[str]
    refused: list[str]
    errors: list[str]
    rendered: bool


def visit(offline: Offline, path: str, rendered: str) -> Visit:
    """Open path, wait for the `rendered` selector and then until no request has been made
    for a second (a heavy script can keep the page busy past "network idle")."""
    context = offline.browser.new_context(viewport={"width": 1280, "height": 900})
    requested: list[str] = []
    refused: list[str] = []
    errors: list[str] = []

    def failed(request: Any) -> None:
        if request.failure == "csp":  # Chromium's word for "blocked by the page's policy"
            refused.append(request.url)

    context.on("request", lambda request: requested.append(request.url))
    context.on("requestfailed", failed)
    context.route(leaves_the_machine, lambda route: route.abort("internetdisconnected"))
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(offline.url + path, wait_until="load")
    with contextlib.suppress(offline.timeout):
        page.wait_for_selector(rendered, timeout=20_000)
    for _ in range(20):
        seen = len(requested)
        page.wait_for_timeout(1000)
        if len(requested) == seen:
            break
    return Visit(page, requested, refused, errors, page.locator(rendered).count() > 0)


def assert_stays_on_the_machine(visit: Visit) -> None:
    """Nothing the page requested or links as a subresource is on another host, unless its
    Content-Security-Policy refused to fetch it; each asset loads from this server, with the
    content type of its kind."""
    assert visit.requested, "the page requested nothing (not even itself)"
    assets = [url for url in visit.page.evaluate(ASSETS_JS) if urlsplit(url).scheme not in INLINE]
    tried = dict.fromkeys(visit.requested + assets)  # in order, once each
    foreign = [url for url in tried if leaves_the_machine(url) and url not in visit.refused]
    assert foreign == [], f"requests that would leave the machine: {foreign}"
    for url, status, content_type in visit.page.evaluate(FETCH_JS, assets):
        suffix = Path(urlsplit(url).path).suffix
        assert status == 200 and content_type.startswith(CONTENT_TYPES[suffix]), url


def served_schema(page: Any) -> dict[str, Any]:
    """The OpenAPI schema the page's own server publishes (holding the core operations)."""
    schema: dict[str, Any] = page.evaluate("async () => (await fetch('/openapi.json')).json()")
    assert operations(schema) >= CORE, operations(schema)
    return schema


SWAGGER_OPERATIONS_JS = """els => els.map(e =>
    e.querySelector('.opblock-summary-method').textContent + ' '
    + e.querySelector('.opblock-summary-path').dataset.path)"""
# ReDoc draws each operation as a section (twice: its description and its samples).
REDOC_OPERATIONS_JS = """els => [...new Set(els.map(e => e.dataset.sectionId))]"""


@pytest.mark.slow
@pytest.mark.browser
def test_swagger_ui_lists_every_operation_with_the_network_cut_off(offline: Offline) -> None:
    docs = visit(offline, "/docs", ".opblock")
    assert_stays_on_the_machine(docs)
    assert docs.rendered and docs.errors == [], docs.errors
    shown = docs.page.eval_on_selector_all(".opblock", SWAGGER_OPERATIONS_JS)
    assert sorted(shown) == sorted(operations(served_schema(docs.page)))
    screenshot = os.environ.get("MODERATE_DOCS_SCREENSHOT")
    if screenshot:
        docs.page.screenshot(path=Path(screenshot).resolve())


@pytest.mark.slow
@pytest.mark.browser
def test_redoc_lists_every_operation_with_the_network_cut_off(offline: Offline) -> None:
    redoc = visit(offline, "/redoc", "[data-section-id^='operation/']")
    assert_stays_on_the_machine(redoc)
    assert redoc.rendered and redoc.errors == [], redoc.errors
    sections = redoc.page.eval_on_selector_all(
        "[data-section-id^='operation/']", REDOC_OPERATIONS_JS
    )
    schema = served_schema(redoc.page)
    ids = {op["operationId"] for ops in schema["paths"].values() for op in ops.values()}
    assert sorted(sections) == sorted(f"operation/{i}" for i in ids)
    for path in schema["paths"]:
        assert redoc.page.get_by_text(path, exact=True).count() > 0, path
