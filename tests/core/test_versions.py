"""The supported Django and Python versions, as pip and the test matrix see them."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from tests.conftest import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# Each supported Django release and the Python of its leg in the test matrix.
LEGS = {"5.2": "3.11", "6.0": "3.12", "6.1": "3.13"}


def requirement(name: str) -> Requirement:
    (found,) = [r for r in map(Requirement, PROJECT["dependencies"]) if r.name.lower() == name]
    return found


def test_installing_the_app_keeps_any_supported_django() -> None:
    django = requirement("django").specifier
    # A project on Django 6.1 keeps it: pip has no reason to downgrade.
    for version in ("5.2", "5.2.19", "6.0", "6.0.10", "6.1", "6.1.3"):
        assert django.contains(version), version
    for version in ("5.1.15", "6.2", "7.0"):
        assert not django.contains(version), version


def test_python_versions_and_classifiers_say_what_is_supported() -> None:
    python = SpecifierSet(PROJECT["requires-python"])
    for version in ("3.11.7", "3.12.1", "3.13.0"):
        assert python.contains(version), version
    assert not python.contains("3.10.13")
    classifiers = set(PROJECT["classifiers"])
    for django in LEGS:
        assert f"Framework :: Django :: {django}" in classifiers
    for version in ("3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {version}" in classifiers


def test_the_matrix_has_one_leg_per_supported_django() -> None:
    import noxfile

    for django, python in LEGS.items():
        leg = getattr(noxfile, "dj" + django.replace(".", ""))
        # pyenv's pinned CPython (.../versions/3.13.0/bin/python), or the bare version.
        found = re.search(r"(\d+\.\d+)(\.\d+)?(/bin/python)?$", leg.python)
        assert found and found.group(1) == python, (django, leg.python)
    assert noxfile.nox.options.sessions == ["dj52", "dj60", "dj61"]
