"""The one Jinja2 environment of the process (HTML pages and SVG images from `templates/`)."""

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from rewards.resources import TEMPLATES_DIR

# Autoescape everything (HTML and SVG alike); StrictUndefined makes a missing variable fail a test instead of
# rendering blank.
templates = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
)
