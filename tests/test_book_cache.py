"""The book's per-chapter execution keys: a chapter is re-executed exactly when what it reads changed."""

import json
import re

import yaml

from cmsi_lib import book, paths

#: calls through which a chapter reads results files (results/, the atlas runs)
RESULT_READERS = re.compile(r"\b(load_survey|survey_global_params|read_atlas|current_run_id|run_dir|results_dir)\(")


def test_every_toc_file_is_a_chapter():
    toc = (paths.repo_root() / "_toc.yml").read_text()
    n_files = len(re.findall(r"^\s*-?\s*(?:file|root):", toc, flags=re.M))
    chapters = book.toc_chapters()
    assert len(chapters) == n_files and yaml.safe_load(toc)["root"] + ".md" in chapters


def test_chapters_that_read_results_declare_them():
    root = paths.repo_root()
    readers = {c for c in book.toc_chapters() if RESULT_READERS.search("\n".join(book._code_cells(root / c)))}
    assert readers, "the reader pattern no longer matches anything"
    assert readers <= set(book.CHAPTER_RESULTS), readers - set(book.CHAPTER_RESULTS)


def test_a_results_file_changes_the_keys_of_its_readers_only(tmp_path, monkeypatch):
    monkeypatch.setenv("CMSI_RESULTS_DIR", str(tmp_path))
    before = book.chapter_keys()
    (tmp_path / "survey").mkdir()
    (tmp_path / "survey" / "global_fit.json").write_text(json.dumps({"params": {"chi0": 0.0}}))
    after = book.chapter_keys()
    changed = {c for c in before if before[c] != after[c]}
    readers = {c for c, reads in book.CHAPTER_RESULTS.items() if "survey/global_fit.json" in reads}
    assert changed == readers
    # a new atlas run changes the atlas chapter's key and nothing else
    (tmp_path / "CURRENT").write_text("abc\n")
    (tmp_path / "runs" / "abc").mkdir(parents=True)
    (tmp_path / "runs" / "abc" / "atlas.csv").write_text("galaxy\nNGC3198\n")
    again = book.chapter_keys()
    assert {c for c in after if after[c] != again[c]} == {"chapters/sparc/atlas.md"}


def test_a_missing_download_file_changes_its_chapters_key(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "chapters_dir", lambda: tmp_path)  # where downloads/ is looked for
    none_written = book.chapter_keys()
    root = paths.repo_root()
    names = {n for c in book.toc_chapters() for n in book._DOWNLOAD_CALL.findall("\n".join(book._code_cells(root / c)))}
    (tmp_path / "downloads").mkdir()
    for n in names:
        for ext in (".csv", ".ecsv"):
            (tmp_path / "downloads" / (n + ext)).write_text("x\n")
    all_written = book.chapter_keys()
    writers = {c for c in book.toc_chapters() if "download(" in "\n".join(book._code_cells(root / c))}
    assert writers and {c for c in none_written if none_written[c] != all_written[c]} == writers
