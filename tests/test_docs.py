"""The documentation site stays true: its examples run, it builds, its links land."""

import contextlib
import importlib
import io
import os
import posixpath
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# The user's spec page lives next to the repository when it is checked out in the
# shared workspace; a plain clone (CI) does not have it.
SPEC = ROOT.parent / "shared" / "spec" / "saving-and-loading-policies.md"

# Pages whose Python examples run as a reader would paste them, one after another.
RUNNABLE_PAGES = ["saving-and-loading.md", "getting-started.md"]
PACKAGES = ["utils", "env", "policy", "algorithm", "export", "interop"]

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _blocks(text: str) -> list[tuple[str, str, int, int]]:
    """(language, body, start, end) of each top-level fenced block."""
    return [(m[1], m[2], m.start(), m.end()) for m in _FENCE.finditer(text)]


def _python_blocks(text: str) -> list[str]:
    return [body for lang, body, _, _ in _blocks(text) if lang in ("py", "python")]


def _run_page(page: str) -> None:
    """Runs the page's Python blocks in order in one namespace.

    A ``text`` block right after a Python block is that block's output: each of its
    lines must appear in what the block printed.
    """
    text = (DOCS / page).read_text()
    blocks = _blocks(text)
    namespace: dict = {"__name__": "lerax_docs_example"}
    for i, (lang, body, _, end) in enumerate(blocks):
        if lang not in ("py", "python"):
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(body, f"{page}, block {i}", "exec"), namespace)
        following = blocks[i + 1] if i + 1 < len(blocks) else None
        if (
            following
            and following[0] == "text"
            and not text[end : following[2]].strip()
        ):
            printed = out.getvalue().splitlines()
            for line in following[1].splitlines():
                assert line in printed, f"{page}, block {i} did not print {line!r}"


@pytest.mark.parametrize("page", RUNNABLE_PAGES)
def test_page_examples_run_in_order(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _run_page(page)


def test_saving_and_loading_page_contains_the_spec_examples_verbatim():
    if not SPEC.is_file():
        pytest.skip(f"spec page not checked out at {SPEC}")
    spec_blocks = _python_blocks(SPEC.read_text())
    page = (DOCS / "saving-and-loading.md").read_text()
    ours = [body for lang, body, _, _ in _blocks(page) if lang == "py"]
    assert len(spec_blocks) == 3
    for block in spec_blocks:
        assert block in ours, f"spec example missing from the page:\n{block}"
    assert [b for b in ours if b in spec_blocks] == spec_blocks  # same order
    assert "](api/utils.md#lerax.utils.Serializable)" in page


# -- the built site ---------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    for module in (
        "mkdocs",
        "material",
        "mkdocstrings",
        "mkdocstrings_handlers.python",
    ):
        try:
            importlib.import_module(module)
        except ImportError:
            pytest.skip(f"{module} is not installed: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    config = ["--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", *config],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def _html_of(site: Path, page: str) -> Path:
    """The built file of a docs-relative page path (directory URLs)."""
    stem = page.removesuffix(".md")
    if stem == "index" or stem.endswith("/index"):
        return site / stem.removesuffix("index") / "index.html"
    return site / stem / "index.html"


def _ids(html: Path) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', html.read_text()))


def test_site_builds_strictly_with_the_serializable_anchor(site):
    assert "lerax.utils.Serializable" in _ids(_html_of(site, "api/utils.md"))


def test_every_docs_link_lands_on_an_existing_page_and_anchor(site):
    checked = 0
    for source in sorted(DOCS.rglob("*.md")):
        page = source.relative_to(DOCS).as_posix()
        text = source.read_text()
        for block in reversed(_blocks(text)):  # links inside code are not links
            text = text[: block[2]] + text[block[3] :]
        for target in _LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            path = posixpath.normpath(posixpath.join(posixpath.dirname(page), path))
            if not target.startswith("#") and not path.endswith(".md"):
                # An image or other file: it must exist and be copied to the site.
                assert (DOCS / path).is_file(), f"{page}: no file {path}"
                assert (site / path).is_file(), f"{page}: {path} not in the site"
                checked += 1
                continue
            if not target.startswith("#"):
                assert (DOCS / path).is_file(), f"{page}: no page {path}"
            html = _html_of(site, page if target.startswith("#") else path)
            if anchor:
                assert anchor in _ids(html), f"{page}: no anchor #{anchor} in {path}"
            checked += 1
    assert checked > 0


@pytest.mark.parametrize("package", PACKAGES)
def test_api_page_documents_every_export(site, package):
    module = importlib.import_module(f"lerax.{package}")
    ids = _ids(_html_of(site, f"api/{package}.md"))
    missing = [n for n in module.__all__ if f"lerax.{package}.{n}" not in ids]
    assert not missing, f"lerax.{package} exports without documentation: {missing}"
