"""The files a user or contributor reads before the code: LICENSE, SECURITY.md, CONTRIBUTING.md.

SECURITY.md and CONTRIBUTING.md are also pages of the docs site: each
``docs/<page>.md`` includes a marked section of the root file
(``--8<-- "FILE:section"``) and defines the section's reference links for the
site, where paths are relative to ``docs/``. A reference the page does not
define would render as literal ``[text][name]`` without any warning from
``mkdocs build --strict``, so the definitions are checked here.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_USE = re.compile(r"\]\[([^\]]+)\]")
REFERENCE_DEFINITION = re.compile(r"^\[([^\]]+)\]:\s*(\S+)\s*$", re.M)


def test_license_is_mit_and_declared_for_the_package() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n\nCopyright (c) 2026 the aioresque developers\n")
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]


def _definitions(text: str) -> dict[str, str]:
    return dict(REFERENCE_DEFINITION.findall(text))


@pytest.mark.parametrize(
    ("root_file", "section", "page"),
    [("SECURITY.md", "policy", "security.md"), ("CONTRIBUTING.md", "guide", "contributing.md")],
)
def test_docs_page_includes_the_root_file_with_its_links(root_file: str, section: str, page: str) -> None:
    source = (ROOT / root_file).read_text(encoding="utf-8")
    start, end = f"--8<-- [start:{section}]", f"--8<-- [end:{section}]"
    assert source.count(start) == 1 and source.count(end) == 1, f"{root_file}: section markers"
    body = source[source.index(start) : source.index(end)]
    used = set(REFERENCE_USE.findall(body))
    docs_page = (ROOT / "docs" / page).read_text(encoding="utf-8")
    assert f'--8<-- "{root_file}:{section}"' in docs_page
    on_github, on_site = _definitions(source), _definitions(docs_page)
    assert used <= set(on_github), f"{root_file} lacks definitions for {used - set(on_github)}"
    assert used <= set(on_site), f"docs/{page} lacks definitions for {used - set(on_site)}"
    for name in used:
        # The same target: docs/x.md from the root is x.md from docs/.
        github, site = on_github[name], on_site[name]
        assert github == site or github == f"docs/{site}", f"[{name}]: {github} vs {site}"
        if not github.startswith("https://"):
            assert (ROOT / github.split("#")[0]).is_file(), f"[{name}]: {github} does not exist"
