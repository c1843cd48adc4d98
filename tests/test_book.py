"""The rendered book, opened in a real browser (Debian Chromium driven by Playwright).

`make test` builds the book with the strict build first (-W -n --keep-going: any warning fails it),
so these tests look at what a reader sees: every page of the toc (and one generated galaxy page)
renders its math with the offline MathJax, loads every image, and asks nothing of the network; the
atlas index sorts (numbers as numbers) and filters by galaxy name with the offline table library;
a galaxy page draws its figure with the offline plotting library;
and every download link of the book returns a table with a header line.
"""

import csv
import functools
import http.server
import io
import os
import re
import shutil
import threading
import urllib.request
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


def _galaxy_links(page: Path) -> set[Path]:
    """The per-galaxy pages that the HTML page ``page`` links to (hrefs resolved against its folder)."""
    hrefs = re.findall(r'href="([^"#?]+\.html)', page.read_text(encoding="utf-8"))
    gal = (HTML / "chapters" / "sparc" / "galaxies").resolve()
    return {t for h in hrefs if (t := (page.parent / h).resolve()).parent == gal}


def test_galaxy_pages_have_the_small_sidebar():
    """A galaxy page links the atlas and its neighbours (prev/next), not every galaxy: its sidebar is
    _templates/atlas-sidebar.html. The control: a chapter's sidebar (the theme's) links them all."""
    pages = galaxy_pages()
    page = HTML / f"{pages[len(pages) // 2]}.html"
    links = _galaxy_links(page) - {page.resolve()}
    assert 1 <= len(links) <= 2, f"{page.name} links {len(links)} other galaxy pages"
    assert 'href="../atlas.html"' in page.read_text(encoding="utf-8")
    assert len(_galaxy_links(HTML / "chapters" / "sparc" / "data.html")) == len(pages)


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


# --------------------------------------------------------------------------- the atlas index and the downloads
ATLAS = "chapters/sparc/atlas"
INDEX = "table.cmsi-sortable"


def open_index(page, server):
    """The atlas page, once simple-datatables has taken over its index (it wraps the table)."""
    resp = page.goto(f"{server}/{ATLAS}.html", wait_until="load")
    assert resp is not None and resp.ok
    page.wait_for_selector(f".datatable-wrapper {INDEX}", timeout=20000)
    headers = page.eval_on_selector_all(f"{INDEX} thead th", "els => els.map(e => e.textContent.trim())")
    return headers


def column(page, i: int) -> list[str]:
    return page.eval_on_selector_all(
        f"{INDEX} tbody tr", f"rows => rows.map(r => r.children[{i}] ? r.children[{i}].textContent.trim() : '')"
    )


def atlas_csv() -> list[dict]:
    rid = (REPO / "results" / "CURRENT").read_text().strip()
    with open(REPO / "results" / "runs" / rid / "atlas.csv") as fh:
        return list(csv.DictReader(fh))


def test_atlas_index_sorts_numerically(page, server):
    headers = open_index(page, server)
    i = headers.index("D [Mpc]")
    n_rows = len(column(page, 0))
    # the distances as the index prints them, sorted here from the atlas's own CSV (blanks last)
    want = sorted((f"{float(r['D_Mpc']):.2f}" for r in atlas_csv() if r["D_Mpc"]), key=float)
    assert sorted(want) != want, "a column whose text order equals its numeric order cannot tell them apart"
    page.click(f"{INDEX} thead th:nth-child({i + 1}) button")
    got = column(page, i)
    assert len(got) == n_rows, "sorting lost rows"
    assert [g for g in got if g] == want
    assert all(not g for g in got[len(want) :]), "blank cells must sort after the numbers"
    page.click(f"{INDEX} thead th:nth-child({i + 1}) button")  # again: descending
    assert [g for g in column(page, i) if g] == want[::-1]


@pytest.mark.parametrize("query", ["NGC3198", "ddo1", "UGC0"])
def test_atlas_index_filters_by_galaxy_name(page, server, query):
    open_index(page, server)
    names = column(page, 0)
    assert len(names) == len({r["galaxy"] for r in atlas_csv()} | set(names))  # every galaxy is listed
    page.fill(".datatable-wrapper input.datatable-input", query)
    want = [n for n in names if query.lower() in n.lower()]
    assert want, f"no galaxy matches {query!r}: pick another query"
    page.wait_for_function(
        f"n => document.querySelectorAll('{INDEX} tbody tr').length === n", arg=len(want), timeout=10000
    )
    assert sorted(column(page, 0)) == sorted(want)
    if query == "NGC3198":  # a row that stays keeps its link to the galaxy's page
        href = page.get_attribute(f"{INDEX} tbody tr td:first-child a", "href")
        assert href and href.endswith("galaxies/NGC3198.html")


#: the chapters that offer their results tables for download (issue 12)
DOWNLOAD_PAGES = ("chapters/sparc/atlas", "chapters/sparc/survey", "chapters/milky_way", "chapters/solar_system")
DOWNLOAD_PAGES += ("chapters/clusters",)


def test_every_download_link_returns_a_table(page, server):
    links: dict[str, list[str]] = {}
    for p in toc_files():
        page.goto(f"{server}/{p}.html", wait_until="domcontentloaded")
        links[p] = page.eval_on_selector_all("a.reference.download", "els => els.map(e => e.href)")
    missing = [p for p in DOWNLOAD_PAGES if not any(h.endswith(".csv") for h in links.get(p, []))]
    assert not missing, f"chapters without a CSV download: {missing}"
    for p, hrefs in links.items():
        for href in hrefs:
            assert href.startswith(server), f"{p}: a download outside the book: {href}"
            with urllib.request.urlopen(href, timeout=30) as resp:
                text = resp.read().decode()
            lines = text.splitlines()
            assert len(lines) >= 2, f"{p}: {href} is empty or has no data line"
            if href.endswith(".ecsv"):
                assert lines[0].startswith("# %ECSV"), f"{p}: {href} has no ECSV header"
            else:
                rows = list(csv.reader(io.StringIO(text)))
                header = rows[0]
                assert all(h.strip() for h in header), f"{p}: {href}: blank column name in {header}"
                assert not any(_is_number(h) for h in header), f"{p}: {href}: the first line is data, not names"
                assert all(len(r) == len(header) for r in rows[1:]), f"{p}: {href}: ragged rows"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- a galaxy page's figure
@pytest.mark.parametrize("name", ["NGC3198", "NGC7814"])
def test_galaxy_figure_is_drawn_with_every_sparc_point(page, server, name):
    """The book's own plotly.js draws the page's figure: four panels, one marker per row of SPARC's
    Table 2 for the galaxy (read here with astropy) in the rotation curve, CMSI in its legend, no
    script error and nothing asked of the network."""
    from astropy.io import ascii

    from cmsi_lib import datafiles

    rows = ascii.read(datafiles.fetch("sparc/MassModels_Lelli2016c.mrt"), format="mrt")
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(server) else outside.append(r.url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    resp = page.goto(f"{server}/chapters/sparc/galaxies/{name}.html", wait_until="load")
    assert resp is not None and resp.ok
    page.wait_for_selector(".cmsi-figure .main-svg", timeout=20000)
    assert page.locator(".cmsi-figure .cartesianlayer .subplot").count() == 4
    first = ".cmsi-figure .cartesianlayer .subplot.xy .scatterlayer .trace .points"
    assert page.evaluate(f"() => document.querySelector('{first}').querySelectorAll('path').length") == int(
        (rows["ID"] == name).sum()
    )
    legend = page.eval_on_selector_all(".cmsi-figure .legendtext", "els => els.map(e => e.textContent)")
    assert "CMSI" in legend
    # sphinx-book-theme 1.3 declares its thebe settings twice on every page (its bug, not the figure's)
    errors = [e for e in errors if "THEBE_JS_URL" not in e]
    assert not errors, f"{name}: script errors {errors}"
    assert not outside, f"{name}: requests that left 127.0.0.1: {outside[:5]}"
