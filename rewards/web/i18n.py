"""Languages of the pages: message catalogs (Babel), choosing a locale, and one Jinja2 environment per locale;
the reader's time zone and the rules file's texts in their language, read by the filters while a page renders.

The catalogs are the `.po` files under rewards/locales/, compiled in memory on first use, so a fresh clone needs
no build step; `make messages` extracts new strings and updates them.
"""

import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, negotiate_locale
from babel.dates import format_date, format_time, get_timezone_name
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from rewards.engine.evaluate import ADJUSTMENT_RULE
from rewards.engine.ruleset import web_url
from rewards.engine.texts import LANGUAGES, RuleTexts
from rewards.resources import TEMPLATES_DIR

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
LOCALES = LANGUAGES  # a rules file may have texts in the languages the pages have catalogs for
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
    env.filters["datetime"] = lambda value, zone_name="short": _datetime(value, locale, zone_name)
    env.filters["date"] = lambda value: _date(value, locale)
    env.filters["rule_text"] = lambda value: _rule_text(value, locale)
    env.filters["reason"] = lambda entry: _reason(entry, locale)
    env.filters["web_url"] = web_url  # an address from data: only an http(s) one becomes a link
    env.globals["locale"] = locale
    return env


@dataclass(frozen=True)
class Reading:
    """Who reads the page being rendered: their time zone, and the texts of the rules in force."""

    time_zone: tzinfo = UTC
    texts: RuleTexts = field(default_factory=RuleTexts)


_reading: ContextVar[Reading | None] = ContextVar("reading", default=None)
_NOBODY = Reading()


def _current() -> Reading:
    return _reading.get() or _NOBODY


@contextmanager
def reading(time_zone: str, texts: RuleTexts) -> Iterator[None]:
    """What the filters of the pages rendered inside read (macros imported without context see it too)."""
    token = _reading.set(Reading(zone(time_zone) or UTC, texts))
    try:
        yield
    finally:
        _reading.reset(token)


@lru_cache(maxsize=256)
def zone(name: str | None) -> ZoneInfo | None:
    """An IANA time zone this machine knows (`Europe/Warsaw`), else None."""
    if not name or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _datetime(value: datetime | date | None, locale: str, zone_name: str = "short") -> str:
    """A moment in the reader's zone, in their language's words, with the zone's name (`12 mar 2027, 09:00 CET`;
    `long`: `czas środkowoeuropejski standardowy`). A day without a time (a rules file's `2027-03-12`) is a date."""
    if value is None:
        return ""
    if not isinstance(value, datetime) or (value.tzinfo is None and value.time() == datetime.min.time()):
        return _date(value, locale)
    local = (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).astimezone(_current().time_zone)
    pattern = Locale.parse(locale).datetime_formats["medium"]
    shown = str(pattern).format(format_time(local, "short", locale=locale), format_date(local, "medium", locale=locale))
    return f"{shown} {get_timezone_name(local, 'long' if zone_name == 'long' else 'short', locale=locale)}"


def _date(value: datetime | date | None, locale: str) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(_current().time_zone)
    return format_date(value, "medium", locale=locale)


def _rule_text(value: str | None, locale: str) -> str:
    """A text of the rules file (a badge's name, a rank's title) in the page's language, else as written."""
    return "" if value is None else _current().texts.text(value, locale)


class _Entry(Protocol):
    @property
    def rule_id(self) -> str: ...
    @property
    def points(self) -> int: ...
    @property
    def reason(self) -> str: ...


# How the engine words what happened to an award (rewards.engine.evaluate); a stored reason is read back into
# these parts and said in the reader's language.
REASON_MESSAGES = {
    "undone": N_("%(label)s undone: %(cause)s"),
    "suspended": N_("%(label)s suspended: %(cause)s"),
    "restored": N_("%(label)s restored: %(cause)s"),
    "held": N_("%(label)s (held: the post is %(cause)s)"),
    "adjusted": N_("adjusted by %(actor)s: %(reason)s"),
    "replaced": N_("replaced by %(cause)s"),
}


def _reason(entry: _Entry, locale: str) -> str:
    """A ledger line's reason in the page's language: the rule's label as translated in the rules file, with the
    values the stored line was written with; what the engine added (undone, suspended...) from the catalog."""
    # The API's reason starts with the points (`+10 upvote on answer a9`, rewards.events.service.entry_out).
    points = f"{entry.points:+d} "
    if not entry.reason.startswith(points):
        return _said(entry.rule_id, entry.reason, locale)
    return points + _said(entry.rule_id, entry.reason.removeprefix(points), locale)


def _said(rule_id: str, reason: str, locale: str) -> str:
    texts = _current().texts
    gettext = translations(locale).gettext
    parts = split_reason(reason, adjustment=rule_id == ADJUSTMENT_RULE)
    if parts is None:
        return texts.reason(rule_id, reason, locale)
    how, label, detail = parts
    if how == "adjusted":
        return gettext(REASON_MESSAGES[how]) % {"actor": label, "reason": detail}
    if detail.startswith("replaced by "):
        detail = gettext(REASON_MESSAGES["replaced"]) % {"cause": detail.removeprefix("replaced by ")}
    return gettext(REASON_MESSAGES[how]) % {"label": texts.reason(rule_id, label, locale), "cause": detail}


_SUFFIXES = (("undone", " undone: "), ("suspended", " suspended: "), ("restored", " restored: "))


def split_reason(reason: str, *, adjustment: bool = False) -> tuple[str, str, str] | None:
    """(how, label, detail) of a reason the engine wrote with a suffix, else None (the reason is the label)."""
    if adjustment:
        actor, separator, said = reason.removeprefix("adjusted by ").partition(": ")
        return ("adjusted", actor, said) if reason.startswith("adjusted by ") and separator else None
    if reason.endswith(")") and " (held: the post is " in reason:
        label, _, detail = reason[:-1].rpartition(" (held: the post is ")
        return "held", label, detail
    for how, suffix in _SUFFIXES:
        if suffix in reason:
            label, _, detail = reason.rpartition(suffix)
            return how, label, detail
    return None
