"""The rendered book, opened in a real browser (Debian Chromium driven by Playwright).

`make test` builds the book with the strict build first (-W -n --keep-going: any warning fails it),
so these tests look at what a reader sees: every page of the toc (and one generated galaxy page)
renders its math with the offline MathJax, loads every image, and asks nothing of the network.
"""

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
HTML = REPO / "_build" / "html"

pytestmark = pytest.mark.book


@pytest.fixture(scope="session", autouse=True)
def built_book():
    """Skip (or, where the browser tests are required, fail) when there is no book or no browser.

    Session-scoped and autouse, so it runs before Playwright launches the browser. A fixture rather
    than a module-level check, so that `make check` (which deselects the `book`
    tests) collects this module without needing a built book even when CMSI_REQUIRE_BROWSER is set.
    """
    if not (HTML / "index.html").exists() or not shutil.which("chromium"):
        why = (
            "no built book (run `make book`)"
            if not (HTML / "index.html").exists()
            else "no chromium (apt-get install chromium)"
        )
        if os.environ.get("CMSI_REQUIRE_BROWSER"):
            pytest.fail(f"the book tests are required here but cannot run: {why}")
        pytest.skip(why)


def toc_files() -> list[str]:
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        for ch in part.get("chapters", []):
            files.append(ch["file"])
    return files


def galaxy_pages() -> list[str]:
    pages = sorted((HTML / "chapters" / "sparc" / "galaxies").glob("*.html"))
    return [str(p.relative_to(HTML).with_suffix("")) for p in pages]


PAGES = toc_files() + galaxy_pages()[:1]


@pytest.fixture(scope="module")
def server():
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))

    class Quiet(handler.func):  # type: ignore[misc]
        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(HTML)))
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_every_toc_page_was_built():
    missing = [f for f in toc_files() if not (HTML / f"{f}.html").exists()]
    assert not missing, f"pages in _toc.yml without HTML: {missing}"


@pytest.mark.parametrize("page_path", PAGES)
def test_page_renders_offline(page, server, page_path):
    outside: list[str] = []
    page.on(
        "request", lambda r: None if r.url.startswith(server) or r.url.startswith("data:") else outside.append(r.url)
    )
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(r.url))
    resp = page.goto(f"{server}/{page_path}.html", wait_until="load")
    assert resp is not None and resp.ok, f"{page_path}: HTTP {resp and resp.status}"

    has_math = page.evaluate("() => !!document.querySelector('article .math')")
    if has_math:
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20000)
        page.evaluate("() => MathJax.startup.promise")
        assert page.locator("mjx-container").count() > 0, f"{page_path}: math present but not typeset"
        assert page.locator("mjx-merror").count() == 0, f"{page_path}: MathJax error"
    text = page.inner_text("body")
    assert "\\(" not in text and "\\[" not in text, f"{page_path}: raw TeX left in the page"

    broken = page.evaluate(
        "() => Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
    )
    assert not broken, f"{page_path}: images that did not load: {broken}"
    assert not outside, f"{page_path}: requests that left 127.0.0.1: {outside[:5]}"
    assert not failed, f"{page_path}: failed requests: {failed[:5]}"
