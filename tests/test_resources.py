"""Where the service finds rules, templates and migrations: the checkout's top-level folders, or the copies a wheel
bundles (pyproject.toml); `.ci/smoke-install` runs the installed wheel itself."""

import tomllib
from pathlib import Path

from rewards import PROJECT_ROOT, resources
from rewards.resources import MIGRATIONS_DIR, RULES_DIR, TEMPLATES_DIR, resource_dir

SETUPTOOLS = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_an_installed_package_reads_its_bundled_copy_not_a_neighbours_folder(tmp_path: Path) -> None:
    package = tmp_path / "site-packages" / "rewards"
    (package / "_bundled" / "templates").mkdir(parents=True)
    (tmp_path / "site-packages" / "templates").mkdir()  # another distribution's top-level folder

    assert resource_dir("templates", package) == package / "_bundled" / "templates"


def test_a_checkout_reads_its_top_level_folders(tmp_path: Path) -> None:
    (tmp_path / "rewards").mkdir()

    assert resource_dir("rules", tmp_path / "rewards") == tmp_path / "rules"
    found = [RULES_DIR, TEMPLATES_DIR, MIGRATIONS_DIR]
    assert found == [PROJECT_ROOT / "rules", PROJECT_ROOT / "templates", PROJECT_ROOT / "migrations"]


def test_the_wheel_bundles_every_folder_the_service_reads() -> None:
    mapped = SETUPTOOLS["package-dir"]
    folders = [value for name, value in vars(resources).items() if name.endswith("_DIR") and name != "PACKAGE_DIR"]
    read = {f"rewards._bundled.{path.name}": path.name for path in folders}

    assert mapped == read
    assert set(read) <= set(SETUPTOOLS["packages"])


def test_the_wheel_lists_every_package() -> None:
    # The list replaces setuptools' `find`, which would notice a new package by itself.
    modules = {
        ".".join(path.parent.relative_to(PROJECT_ROOT).parts)
        for path in (PROJECT_ROOT / "rewards").rglob("*.py")
        if "_bundled" not in path.parts
    }
    listed = {package for package in SETUPTOOLS["packages"] if not package.startswith("rewards._bundled.")}

    assert listed == modules
