"""The one Jinja2 environment of the process (HTML pages and SVG images from `templates/`)."""

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from rewards.resources import TEMPLATES_DIR

# The characters XML 1.0 does not allow (https://www.w3.org/TR/xml/#charsets): control characters other than tab
# and line breaks, surrogates, U+FFFE and U+FFFF. Escaping cannot write them (`&#1;` is not allowed either), and
# one of them, in a member id a forum sent, makes a whole SVG image "not well-formed": it is shown as U+FFFD
# instead, so the id still reads as different from one without it.
NOT_IN_XML = dict.fromkeys(
    [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0xD800, 0xE000), 0xFFFE, 0xFFFF], "\ufffd"
)


def xml_text(value: object) -> object:
    """A value as every `{{ ... }}` outputs it (the environment's `finalize`, before escaping): text without the
    characters XML cannot hold (already-safe markup stays markup: `Markup.translate` keeps the type); other
    values are untouched."""
    return value.translate(NOT_IN_XML) if isinstance(value, str) else value


# Autoescape everything (HTML and SVG alike); StrictUndefined makes a missing variable fail a test instead of
# rendering blank.
templates = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    finalize=xml_text,
)
