"""The human texts of a rules file in several languages: `name: {en: Nice Answer, pl: Dobra odpowiedź}`.

The engine works with one canonical text per field, the file's default language (`language:`, `en` unless said),
so ids, digests, ledger entries and outbox payloads do not depend on who reads them. The other languages are kept
here, keyed by the canonical text, and pages pick the reader's at read time, falling back to the canonical text.
Pure: no I/O.
"""

import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

# The languages a rules file may have texts in: the ones the pages ship catalogs for (rewards/locales/).
LANGUAGES = ("en", "pl")
DEFAULT_LANGUAGE = "en"

# Where the human texts of a rules file are; `*` is any key of a mapping or any item of a list. Labels are
# templates (`upvote on {post.kind} {post.id}`): their translations must use the same placeholders.
TEXT_FIELDS: tuple[tuple[str, ...], ...] = (
    ("description",),
    ("caps", "*", "description"),
    ("counters", "*", "name"),
    ("counters", "*", "description"),
    ("points", "*", "label"),
    ("points", "*", "description"),
    ("points", "*", "award", "*", "label"),
    ("badges", "*", "name"),
    ("badges", "*", "description"),
    ("perks", "*", "name"),
    ("perks", "*", "description"),
    ("perks", "*", "details", "place"),
    ("perks", "*", "details", "agenda"),
    ("ranks", "*", "title"),
    ("ranks", "*", "description"),
    ("leaderboards", "*", "title"),
    ("leaderboards", "*", "description"),
    ("contributions", "*", "name"),
    ("contributions", "*", "description"),
)
LABEL_FIELDS = {("points", "*", "label"), ("points", "*", "award", "*", "label")}

Location = tuple[str | int, ...]
Problem = tuple[Location, str]


def _placeholders(template: str) -> set[str] | None:
    try:
        return {name for _literal, name, _spec, _conv in string.Formatter().parse(template) if name is not None}
    except ValueError:
        return None  # the template's own check reports it


@dataclass(frozen=True)
class _Label:
    """A rule's label in the default language, as a pattern that finds the placeholders' values in a stored
    reason, and its translations."""

    pattern: re.Pattern[str]
    names: tuple[str, ...]
    translated: Mapping[str, str]


def _label(template: str, translated: Mapping[str, str]) -> _Label | None:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return None
    regex: list[str] = []
    names: list[str] = []
    for literal, name, _spec, _conv in parsed:
        regex.append(re.escape(literal))
        if name is not None:
            regex.append(f"(?P<p{len(names)}>.*?)")
            names.append(name)
    return _Label(re.compile("".join(regex), re.DOTALL), tuple(names), translated)


@dataclass
class RuleTexts:
    """The translations of one rules file: canonical text -> {language: text}; rule id -> its labels."""

    language: str = DEFAULT_LANGUAGE
    by_text: dict[str, dict[str, str]] = field(default_factory=dict)
    labels: dict[str, list[_Label]] = field(default_factory=dict)

    def text(self, value: str, language: str) -> str:
        """`value` (a canonical text of the rules) in `language`, or as it is when not translated."""
        if language == self.language:
            return value
        return self.by_text.get(value, {}).get(language, value)

    def reason(self, rule_id: str, label: str, language: str) -> str:
        """A stored ledger label of rule `rule_id` in `language`: the rule's translated label with the values the
        stored one was rendered with; as it is when the label is not translated or no longer matches."""
        if language == self.language:
            return label
        for known in self.labels.get(rule_id, ()):
            found = known.pattern.fullmatch(label)
            if found is None or language not in known.translated:
                continue
            values = {name: found.group(f"p{index}") for index, name in enumerate(known.names)}
            out = []
            for literal, name, _spec, _conv in string.Formatter().parse(known.translated[language]):
                out.append(literal)
                if name is not None:
                    out.append(values.get(name, "?"))
            return "".join(out)
        return label


def _locations(node: Any, pattern: tuple[str, ...], at: Location = ()) -> Iterator[tuple[Location, Any, Any]]:
    """(location, container, key) of every value at `pattern` in the plain data."""
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        items: list[tuple[str | int, Any]] = (
            list(node.items()) if isinstance(node, dict) else list(enumerate(node)) if isinstance(node, list) else []
        )
    else:
        items = [(head, node[head])] if isinstance(node, dict) and head in node else []
    for key, value in items:
        if not rest:
            yield (*at, key), node, key
        else:
            yield from _locations(value, rest, (*at, key))


def extract(data: Any) -> tuple[Any, RuleTexts, list[Problem]]:
    """The rules file's plain data with every translated text replaced by its canonical one (the file's default
    language), the translations, and what is wrong with them (at their location in the file)."""
    problems: list[Problem] = []
    language = data.get("language", DEFAULT_LANGUAGE) if isinstance(data, dict) else DEFAULT_LANGUAGE
    if language not in LANGUAGES:
        problems.append((("language",), f"unknown language {language!r}; the pages have {', '.join(LANGUAGES)}"))
        language = DEFAULT_LANGUAGE
    texts = RuleTexts(language=language)
    where: dict[str, dict[str, Location]] = {}
    for pattern in TEXT_FIELDS:
        for location, container, key in _locations(data, pattern):
            value = container[key]
            if not isinstance(value, dict):
                continue
            translations = _checked(value, language, location, pattern in LABEL_FIELDS, problems)
            if translations is None:  # reported; a text in its place, so that only that problem is reported
                container[key] = next((text for text in value.values() if isinstance(text, str) and text), "?")
                continue
            canonical = translations[language]
            container[key] = canonical
            known = texts.by_text.setdefault(canonical, {})
            seen = where.setdefault(canonical, {})
            for code, text in translations.items():
                if code in known and known[code] != text:
                    other = ".".join(str(part) for part in seen[code])
                    problems.append(
                        (
                            (*location, code),
                            f"{canonical!r} is translated as {known[code]!r} at `{other}`; one text has one "
                            f"translation per language",
                        )
                    )
                known.setdefault(code, text)
                seen.setdefault(code, location)
            if pattern in LABEL_FIELDS:
                rule = data["points"][location[1]]
                rule_id = rule.get("id") if isinstance(rule, dict) else None
                label = _label(canonical, translations)
                if isinstance(rule_id, str) and label is not None:
                    texts.labels.setdefault(rule_id, []).append(label)
    if isinstance(data, dict) and "language" in data:
        data = {key: value for key, value in data.items() if key != "language"}
    return data, texts, problems


def _checked(
    value: dict[Any, Any], language: str, location: Location, is_label: bool, problems: list[Problem]
) -> dict[str, str] | None:
    bad = [code for code in value if code not in LANGUAGES]
    if bad:
        problems.append(
            (
                (*location, str(bad[0])),
                f"{bad[0]!r} is not a language of the pages; a text is plain, or one per language: "
                f"{{{', '.join(f'{code}: ...' for code in LANGUAGES)}}}",
            )
        )
        return None
    if language not in value:
        problems.append((location, f"the texts must include the rules file's language ({language}): `{language}: ...`"))
        return None
    for code, text in value.items():
        if not isinstance(text, str) or not text.strip():
            problems.append(((*location, code), "must be a text"))
            return None
    if is_label:
        expected = _placeholders(value[language])
        for code, text in value.items():
            found = _placeholders(text)
            if expected is not None and found is not None and not found <= expected:
                problems.append(
                    (
                        (*location, code),
                        f"the {code} label can use only the placeholders of the {language} one "
                        f"({', '.join('{' + name + '}' for name in sorted(expected)) or 'none'})",
                    )
                )
                return None
    return {str(code): text for code, text in value.items()}
