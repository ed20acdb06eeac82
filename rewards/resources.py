"""Where the files the service reads at run time live: rules/, templates/ and migrations/ at the top of a checkout
(and of an editable install), rewards/_bundled/ inside an installed wheel (pyproject.toml maps them there)."""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str, package_dir: Path = PACKAGE_DIR) -> Path:
    """The bundled copy when there is one: only a built package has it, and next to an installed package (in
    site-packages) a top-level `templates/` would belong to someone else."""
    bundled = package_dir / "_bundled" / name
    return bundled if bundled.is_dir() else package_dir.parent / name


RULES_DIR = resource_dir("rules")
TEMPLATES_DIR = resource_dir("templates")
MIGRATIONS_DIR = resource_dir("migrations")
