"""Links out: where a post or a member's profile lives on the forum. Per-source URL templates, configured
(`REWARDS_SOURCE_LINKS`, then `REWARDS_POST_URL_TEMPLATE` / `REWARDS_PROFILE_URL_TEMPLATE` for every other source)
or learned from the source's own name: a Discourse instance's base URL, a Stack Exchange site, a Khoros community.

Pure. Only absolute http(s) addresses come out (`web_url`, the check the rules file's links go through), and every
value put into a template is percent-encoded, so no post or member id can change where a link leads.
"""

import re
import string
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from rewards.engine.ruleset import web_url

POST_FIELDS = frozenset({"post_id", "post_number"})
PROFILE_FIELDS = frozenset({"user_id", "username"})
# A template's text before its first placeholder: the scheme and the whole host, written out.
_FIXED_ORIGIN = re.compile(r"https?://[^/?#{}\\@\s]+[/?#]", re.IGNORECASE | re.ASCII)
_DIGITS = re.compile(r"[0-9]+")
_HOST = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*", re.ASCII)
_DISCOURSE_POST = re.compile(r"([tp])([0-9]{1,18})", re.ASCII)
# A Stack Exchange dump folder named after its site (`cardano.stackexchange.com`, `stackoverflow.com`), or by the
# site's short name only (`cardano`, `bicycles.meta`): those live under stackexchange.com.
_TOP_LEVEL_DOMAINS = ("com", "net", "org", "io")
# Discourse serves an avatar in any of its configured sizes; 96 px is in the default list and sharp at 48 px.
DISCOURSE_AVATAR_SIZE = "96"


def check_template(template: str, fields: frozenset[str]) -> str:
    """`template` if it is an absolute http(s) address with its scheme and host written out and only `fields` as
    placeholders; ValueError naming the problem otherwise."""
    try:
        named = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as error:
        raise ValueError(f"{template!r} is not a URL template ({error})") from None
    unknown = sorted(name for name in named if name not in fields)
    if unknown:
        allowed = ", ".join(f"{{{name}}}" for name in sorted(fields))
        raise ValueError(f"{template!r} names {', '.join(unknown)}: a template may use {allowed}")
    prefix = template.split("{", 1)[0]
    if not _FIXED_ORIGIN.match(prefix) or web_url(fill(template, dict.fromkeys(fields, "x")) or "") is None:
        raise ValueError(
            f"{template!r} must be an absolute http:// or https:// address whose host is written out, "
            "such as https://forum.example.com/t/{post_id}"
        )
    return template


def fill(template: str, values: dict[str, str]) -> str | None:
    """The template with each placeholder replaced by its value, percent-encoded; None when a value it names is
    missing or the result is not a web address."""
    try:
        filled = template.format_map({name: quote(value, safe="") for name, value in values.items()})
    except (KeyError, IndexError, ValueError):
        return None
    return web_url(filled)


@dataclass(frozen=True)
class SourceLinks:
    """A source's templates: `post` with {post_id} and {post_number}, `profile` with {user_id} and {username}."""

    post: str | None = None
    profile: str | None = None


def _post_number(post_id: str) -> str | None:
    found = _DIGITS.findall(post_id)
    return found[-1] if found else None


def discourse_base(source: str) -> str | None:
    """`https://forum.example.com` for `discourse:https://forum.example.com` (the adapter's source: the
    X-Discourse-Instance header); None when the rest is not a web address without path, query or fragment."""
    if not source.startswith("discourse:"):
        return None
    base = source.removeprefix("discourse:").rstrip("/")
    parts = urlsplit(base)
    if web_url(base) is None or parts.path or parts.query or parts.fragment or "@" in parts.netloc:
        return None
    return base


def stackexchange_host(source: str) -> str | None:
    """`cardano.stackexchange.com` for `stackexchange:cardano`, `stackoverflow.com` for
    `stackexchange:stackoverflow.com` (the import's source is `stackexchange:<dump folder name>`)."""
    if not source.startswith("stackexchange:"):
        return None
    name = source.removeprefix("stackexchange:").lower()
    if not _HOST.fullmatch(name):
        return None
    return name if name.rsplit(".", 1)[-1] in _TOP_LEVEL_DOMAINS else f"{name}.stackexchange.com"


def khoros_host(source: str) -> str | None:
    """`community.example.com` for `khoros:community.example.com` (rewards.imports.khoros.community_source)."""
    if not source.startswith("khoros:"):
        return None
    host = source.removeprefix("khoros:").lower()
    return host if _HOST.fullmatch(host) else None


def learned(source: str) -> SourceLinks:
    """The links a source's name gives away. Discourse posts are `t<topic>` (a topic's first post) and
    `p<post>` (replies), which Discourse serves at /t/<topic> and /p/<post>: see `Links.post_url`."""
    base = discourse_base(source)
    if base is not None:
        return SourceLinks(post=None, profile=base + "/u/{username}")
    host = stackexchange_host(source)
    if host is not None:
        return SourceLinks(post=f"https://{host}/q/{{post_id}}", profile=f"https://{host}/users/{{user_id}}")
    host = khoros_host(source)
    if host is not None:
        # A Khoros message's address holds its board's and subject's slugs, which events do not carry: configure
        # the posts of a Khoros source in REWARDS_SOURCE_LINKS if the community has a short form.
        return SourceLinks(post=None, profile=f"https://{host}/t5/user/viewprofilepage/user-id/{{user_id}}")
    return SourceLinks()


@dataclass(frozen=True)
class Links:
    """The configured templates; a source's own (`sources`) win over what its name gives away, which wins over
    the defaults for every source."""

    post: str | None = None
    profile: str | None = None
    sources: dict[str, SourceLinks] = field(default_factory=dict)

    def post_url(self, source: str, post_id: str, kind: str | None = None) -> str | None:
        """Where the post `post_id` of `source` is on the forum; None when no template says."""
        configured = self.sources.get(source)
        template = configured.post if configured is not None else None
        if template is None:
            base = discourse_base(source)
            found = _DISCOURSE_POST.fullmatch(post_id)
            if base is not None and found is not None:
                return web_url(f"{base}/{found.group(1)}/{found.group(2)}")
            host = stackexchange_host(source)
            if host is not None and post_id.isdigit():
                return web_url(f"https://{host}/{'a' if kind == 'answer' else 'q'}/{post_id}")
            template = learned(source).post or self.post
        if template is None:
            return None
        values = {"post_id": post_id}
        number = _post_number(post_id)
        if number is not None:
            values["post_number"] = number
        return fill(template, values)

    def profile_url(self, source: str | None, user_id: str, username: str | None) -> str | None:
        """Where a member's profile is, for a profile written by `source` that gave no address of its own."""
        template = None
        if source is not None:
            configured = self.sources.get(source)
            template = (configured.profile if configured is not None else None) or learned(source).profile
        template = template or self.profile
        if template is None:
            return None
        values = {"user_id": user_id}
        if username:
            values["username"] = username
        return fill(template, values)


def avatar_from_template(base: str, avatar_template: str) -> str | None:
    """A Discourse `avatar_template` (`/user_avatar/host/name/{size}/12_2.png`, or an absolute address) as the
    address of one size of it."""
    address = avatar_template.replace("{size}", DISCOURSE_AVATAR_SIZE)
    if address.startswith("//"):
        address = urlsplit(base).scheme + ":" + address
    elif address.startswith("/"):
        address = base + address
    return web_url(address)
