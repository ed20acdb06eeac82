"""Languages of the pages: message catalogs (Babel), choosing a locale, and one Jinja2 environment per locale.

The catalogs are the `.po` files under rewards/locales/, compiled in memory on first use, so a fresh clone needs
no build step; `make messages` extracts new strings and updates them.
"""

import io
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from babel import Locale, negotiate_locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from rewards.engine.ruleset import web_url
from rewards.resources import TEMPLATES_DIR

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
LOCALES = ("en", "pl")
DEFAULT_LOCALE = "en"
DOMAIN = "messages"


def N_(message: str) -> str:
    """Marks a message for extraction where it is defined; it is translated where it is shown."""
    return message


# Badge tiers come from the rules file; these three are the ones the pages translate.
BADGE_TIERS = (N_("gold"), N_("silver"), N_("bronze"))


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> Translations:
    with (LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        catalog = read_po(po, locale=locale, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def parse_accept_language(header: str | None) -> list[str]:
    """Language tags of an Accept-Language header, most preferred first (q=0 means "not this one")."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")[:20]):
        tag, _, parameters = part.strip().partition(";")
        quality = 1.0
        if parameters.strip().startswith("q="):
            try:
                quality = float(parameters.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, position, tag.strip()))
    return [tag for _, _, tag in sorted(weighted)]


def supported(tag: str | None) -> str | None:
    if not tag:
        return None
    return negotiate_locale([tag.replace("_", "-")], list(LOCALES), sep="-") or negotiate_locale(
        [tag.replace("_", "-").split("-")[0]], list(LOCALES), sep="-"
    )


def choose(*, chosen: str | None, claimed: str | None, accept_language: str | None) -> str:
    """The page's locale: the language picked on the page, else the signed-in user's, else the browser's."""
    for candidate in (chosen, claimed):
        if (locale := supported(candidate)) is not None:
            return locale
    preferred = [tag.replace("_", "-") for tag in parse_accept_language(accept_language)]
    preferred += [tag.split("-")[0] for tag in preferred]
    return negotiate_locale(preferred, list(LOCALES), sep="-") or DEFAULT_LOCALE


def language_name(locale: str) -> str:
    """A language's name in itself ("polski"), for the language menu."""
    name = Locale.parse(locale).get_display_name(locale) or locale
    return name[:1].upper() + name[1:]


@lru_cache(maxsize=len(LOCALES))
def environment(locale: str) -> Environment:
    """The page templates with this locale's messages, numbers and dates. Built once per locale."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    # newstyle: `_("%(n)s more", n=5)` escapes its arguments under autoescape; a literal % is written %%.
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters["number"] = lambda value: format_decimal(value, locale=locale)
    env.filters["percent"] = lambda value: format_percent(value, locale=locale)
    env.filters["datetime"] = lambda value: _datetime(value, locale)
    env.filters["web_url"] = web_url  # an address from data: only an http(s) one becomes a link
    env.globals["locale"] = locale
    return env


def _datetime(value: datetime | None, locale: str) -> str:
    if value is None:
        return ""
    # Stored times are UTC; the pages say so rather than guess the reader's zone.
    return format_datetime(value.astimezone(UTC), format="medium", tzinfo=UTC, locale=locale) + " UTC"
