"""The version is written once, in pyproject.toml, and read from there."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import aioresque
from aioresque._version import UNKNOWN, checkout_version

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def test_version_comes_from_the_installed_metadata() -> None:
    assert aioresque.__version__ == metadata.version("aioresque")


def test_an_uninstalled_checkout_reads_its_pyproject() -> None:
    declared = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["version"]
    assert checkout_version(PYPROJECT) == declared


def test_anything_else_is_unknown(tmp_path: Path) -> None:
    assert checkout_version(tmp_path / "missing.toml") == UNKNOWN
    other = tmp_path / "pyproject.toml"
    other.write_text('[project]\nname = "another"\nversion = "9.9"\n', encoding="utf-8")
    assert checkout_version(other) == UNKNOWN
    other.write_bytes(b"\xff[project")
    assert checkout_version(other) == UNKNOWN
