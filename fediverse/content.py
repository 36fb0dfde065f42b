"""Post text → Mastodon-style HTML (paragraphs, links, mentions, hashtags), and HTML sanitizing.

Mastodon's formatter is the reference: links show without scheme with `invisible`/`ellipsis`
spans, mentions are `h-card` spans, hashtags link to the tag page. Every HTML we show passes
through nh3 with Mastodon's allowed subset.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import nh3

# Mastodon's mention pattern: @user or @user@domain, not preceded by a word character or '/'.
MENTION_RE = re.compile(
    r"(?<![\w/@])@([A-Za-z0-9_]+(?:[A-Za-z0-9_.-]+[A-Za-z0-9_]+)?)"
    r"(?:@([A-Za-z0-9.-]+\.[A-Za-z0-9]+(?::\d+)?|localhost(?::\d+)?|\d+\.\d+\.\d+\.\d+(?::\d+)?))?"
)
HASHTAG_RE = re.compile(r"(?<![\w/&#])#([\w·]*[^\W\d_·][\w·]*)", re.UNICODE)
URL_RE = re.compile(
    r"https?://[^\s<>\"'()\[\]]+(?:\([^\s<>\"']*\)[^\s<>\"'()\[\]]*)*", re.IGNORECASE
)
_TRAILING_PUNCTUATION = ".,;:!?"

ALLOWED_TAGS = {
    "p",
    "br",
    "span",
    "a",
    "del",
    "pre",
    "code",
    "em",
    "strong",
    "b",
    "i",
    "u",
    "ul",
    "ol",
    "li",
    "blockquote",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "s",
    "sub",
    "sup",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "class", "translate", "target"},
    "span": {"class", "translate"},
    "ol": {"start", "reversed"},
    "li": {"value"},
}
_ALLOWED_CLASSES = {
    "a": {"mention", "hashtag", "u-url", "status-link", "unhandled-link"},
    "span": {"h-card", "invisible", "ellipsis", "mention"},
}


@dataclass(frozen=True)
class MentionRef:
    """A mention found in text: username, domain (None means ours or unspecified), source."""

    username: str
    domain: str | None
    text: str


@dataclass(frozen=True)
class ResolvedMention:
    account_id: int
    username: str
    acct: str
    url: str


def extract_mentions(text: str) -> list[MentionRef]:
    seen: dict[tuple[str, str | None], MentionRef] = {}
    for match in MENTION_RE.finditer(text):
        username, domain = match.group(1), match.group(2)
        key = (username.lower(), domain.lower() if domain else None)
        if key not in seen:
            seen[key] = MentionRef(username, domain.lower() if domain else None, match.group(0))
    return list(seen.values())


def extract_hashtags(text: str) -> list[str]:
    """Hashtag names in order of first use, without duplicates (case-insensitive)."""
    text_without_urls = URL_RE.sub(" ", text)
    names: dict[str, str] = {}
    for match in HASHTAG_RE.finditer(text_without_urls):
        name = match.group(1)
        if len(name) <= 100:
            names.setdefault(name.lower(), name)
    return list(names.values())


def _link_html(url: str) -> str:
    scheme_match = re.match(r"(https?://)(www\.)?", url, re.IGNORECASE)
    prefix = scheme_match.group(0) if scheme_match else ""
    rest = url[len(prefix) :]
    display, hidden = rest[:30], rest[30:]
    escaped_url = html.escape(url, quote=True)
    ellipsis_class = "ellipsis" if hidden else ""
    return (
        f'<a href="{escaped_url}" target="_blank" rel="nofollow noopener" translate="no">'
        f'<span class="invisible">{html.escape(prefix)}</span>'
        f'<span class="{ellipsis_class}">{html.escape(display)}</span>'
        f'<span class="invisible">{html.escape(hidden)}</span></a>'
    )


def _split_url(url: str) -> tuple[str, str]:
    trailing = ""
    while url and url[-1] in _TRAILING_PUNCTUATION:
        trailing = url[-1] + trailing
        url = url[:-1]
    return url, trailing


def render_plain_text(
    text: str,
    *,
    mentions: dict[tuple[str, str | None], ResolvedMention],
    tag_url: str,
) -> str:
    """Plain text to HTML. `mentions` maps (lower username, lower domain or None) to accounts.

    `tag_url` is the base for hashtag links (`https://our.domain/tags/`).
    """
    token_re = re.compile(
        f"(?P<url>{URL_RE.pattern})|(?P<mention>{MENTION_RE.pattern})|(?P<tag>{HASHTAG_RE.pattern})",
        re.IGNORECASE | re.UNICODE,
    )

    def render_line(line: str) -> str:
        out: list[str] = []
        position = 0
        for match in token_re.finditer(line):
            out.append(html.escape(line[position : match.start()], quote=False))
            position = match.end()
            piece = match.group(0)
            if match.group("url"):
                url, trailing = _split_url(piece)
                out.append(_link_html(url) + html.escape(trailing, quote=False))
            elif match.group("mention"):
                found = MENTION_RE.fullmatch(piece)
                assert found is not None
                username, domain = found.group(1), found.group(2)
                key = (username.lower(), domain.lower() if domain else None)
                resolved = mentions.get(key)
                if resolved is None:
                    out.append(html.escape(piece, quote=False))
                else:
                    out.append(
                        '<span class="h-card" translate="no">'
                        f'<a href="{html.escape(resolved.url, quote=True)}" class="u-url mention">'
                        f"@<span>{html.escape(resolved.username)}</span></a></span>"
                    )
            else:
                name = piece[1:]
                out.append(
                    f'<a href="{html.escape(tag_url + name.lower(), quote=True)}" '
                    f'class="mention hashtag" rel="tag">#<span>{html.escape(name)}</span></a>'
                )
        out.append(html.escape(line[position:], quote=False))
        return "".join(out)

    normalized = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    if not normalized.strip():
        return ""
    paragraphs = re.split(r"\n{2,}", normalized)
    rendered = []
    for paragraph in paragraphs:
        lines = [render_line(line) for line in paragraph.split("\n")]
        rendered.append("<p>" + "<br />".join(lines) + "</p>")
    return "".join(rendered)


def _filter_classes(element: str, attribute: str, value: str) -> str | None:
    if attribute != "class":
        if attribute == "href" and not re.match(r"^(https?:|mailto:|/)", value, re.IGNORECASE):
            return None
        return value
    allowed = _ALLOWED_CLASSES.get(element, set())
    kept = [name for name in value.split() if name in allowed]
    return " ".join(kept) if kept else None


# Built once: nh3.clean with these options rebuilds the sanitizer on every call, three times
# the cost of cleaning a post's HTML with it (bench/inbox.py applies one per activity).
_CLEANER = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=ALLOWED_ATTRIBUTES,
    attribute_filter=_filter_classes,
    link_rel="nofollow noopener",
    url_schemes={"http", "https", "mailto"},
)


def sanitize_html(dirty: str) -> str:
    """Reduce any HTML to Mastodon's allowed subset (scripts, styles, handlers removed)."""
    return _CLEANER.clean(dirty)


_TAG_RE = re.compile(r"<[^>]+>")
_BR_RE = re.compile(r"<br\s*/?>", re.IGNORECASE)
_PARAGRAPH_BREAK_RE = re.compile(r"</p>\s*<p>", re.IGNORECASE)


def html_to_text(content: str) -> str:
    """Plain text of rendered HTML, for search and filters (block elements become newlines)."""
    text = _BR_RE.sub("\n", content)
    text = _PARAGRAPH_BREAK_RE.sub("\n\n", text)
    return html.unescape(_TAG_RE.sub("", text)).strip()


def text_length(text: str) -> int:
    """Length as Mastodon counts it: every URL counts as 23 characters, remote mentions as the
    username only."""
    counted = URL_RE.sub("x" * 23, text)
    counted = MENTION_RE.sub(lambda m: "@" + m.group(1), counted)
    return len(counted)
