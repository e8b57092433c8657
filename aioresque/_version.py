"""The package's version: pyproject.toml is the one place it is written.

An installed aioresque (a wheel, or ``pip install -e .``) reads it from its
distribution metadata, which the build took from pyproject.toml. A checkout
imported without being installed (``PYTHONPATH=.``) has no metadata, so it
reads the ``pyproject.toml`` beside the package instead.
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

UNKNOWN = "0+unknown"
"""The version of a copy that is neither installed nor inside its checkout."""


def package_version() -> str:
    """The version of this copy of aioresque.

    Returns:
        The installed distribution's version, else the version in the
        checkout's ``pyproject.toml``, else :data:`UNKNOWN`.
    """
    try:
        return metadata.version("aioresque")
    except metadata.PackageNotFoundError:
        return checkout_version(Path(__file__).resolve().parent.parent / "pyproject.toml")


def checkout_version(pyproject: Path) -> str:
    """The version a ``pyproject.toml`` declares for aioresque.

    Args:
        pyproject: the file to read; it may be missing or belong to another project.

    Returns:
        ``[project] version`` when the file is aioresque's, else :data:`UNKNOWN`.
    """
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return UNKNOWN
    version = project.get("version")
    if project.get("name") != "aioresque" or not isinstance(version, str):
        return UNKNOWN
    return version
