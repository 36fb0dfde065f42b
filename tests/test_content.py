"""Plain text → Mastodon-style HTML, and the sanitizer every shown HTML passes through."""

from __future__ import annotations

import pytest

from fediverse.content import (
    ResolvedMention,
    extract_hashtags,
    extract_mentions,
    html_to_text,
    render_plain_text,
    sanitize_html,
    text_length,
)

TAGS = "https://local.test/tags/"
BOB = ResolvedMention(1, "bob", "bob", "https://local.test/@bob")
CAROL = ResolvedMention(2, "carol", "carol@remote.example", "https://remote.example/@carol")
MENTIONS = {("bob", None): BOB, ("carol", "remote.example"): CAROL}


def render(text: str) -> str:
    return render_plain_text(text, mentions=MENTIONS, tag_url=TAGS)


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("hello", "<p>hello</p>"),
        ("a\nb", "<p>a<br />b</p>"),
        ("a\n\nb", "<p>a</p><p>b</p>"),
        ("a\n\n\n\nb", "<p>a</p><p>b</p>"),
        ("a\r\nb\r\n\r\nc", "<p>a<br />b</p><p>c</p>"),
        ("\n\nleading and trailing\n\n", "<p>leading and trailing</p>"),
        ("", ""),
        ("\n \n", ""),
    ],
)
def test_paragraphs_and_line_breaks_follow_mastodon(text: str, html: str) -> None:
    assert render(text) == html


def test_html_in_text_is_escaped_not_interpreted() -> None:
    rendered = render('<script>alert("x")</script> & <b>bold</b>')
    assert "<script>" not in rendered and "<b>" not in rendered
    assert rendered == (
        '<p>&lt;script&gt;alert("x")&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;</p>'
    )


def test_short_link_hides_the_scheme_in_an_invisible_span() -> None:
    assert render("go to https://example.com/x now") == (
        '<p>go to <a href="https://example.com/x" target="_blank" rel="nofollow noopener" '
        'translate="no"><span class="invisible">https://</span><span class="">example.com/x'
        '</span><span class="invisible"></span></a> now</p>'
    )


def test_long_link_shows_30_characters_with_an_ellipsis() -> None:
    url = "https://www.example.com/a/very/long/path/that/goes/on?x=1&y=2"
    rendered = render(url)
    assert f'href="{url.replace("&", "&amp;")}"' in rendered
    assert '<span class="invisible">https://www.</span>' in rendered
    assert '<span class="ellipsis">example.com/a/very/long/path/t</span>' in rendered
    assert '<span class="invisible">hat/goes/on?x=1&amp;y=2</span>' in rendered


def test_trailing_punctuation_and_parentheses_stay_outside_the_link() -> None:
    assert 'href="https://example.com/x"' in render("see https://example.com/x.")
    assert render("see https://example.com/x.").endswith("</a>.</p>")
    wrapped = render("(https://example.com/x)")
    assert wrapped.startswith('<p>(<a href="https://example.com/x"')
    assert wrapped.endswith("</a>)</p>")
    assert 'href="https://en.wikipedia.org/wiki/A_(b)"' in render(
        "https://en.wikipedia.org/wiki/A_(b)"
    )


def test_non_http_schemes_are_not_linked() -> None:
    rendered = render("javascript:alert(1) ftp://example.com")
    assert "<a" not in rendered


def test_known_mentions_become_h_cards_and_unknown_ones_stay_text() -> None:
    rendered = render("hi @bob, @carol@remote.example and @nobody")
    assert (
        '<span class="h-card" translate="no"><a href="https://local.test/@bob" '
        'class="u-url mention">@<span>bob</span></a></span>'
    ) in rendered
    assert 'href="https://remote.example/@carol" class="u-url mention">@<span>carol</span>' in (
        rendered
    )
    assert "and @nobody</p>" in rendered


def test_mentions_are_found_once_each_and_emails_are_not_mentions() -> None:
    found = extract_mentions("@bob @BOB @carol@Remote.Example mail me at me@example.org")
    assert [(m.username, m.domain) for m in found] == [
        ("bob", None),
        ("carol", "remote.example"),
    ]


def test_hashtags_link_to_the_lowercase_tag_page() -> None:
    rendered = render("#Hello world")
    assert rendered == (
        '<p><a href="https://local.test/tags/hello" class="mention hashtag" rel="tag">'
        "#<span>Hello</span></a> world</p>"
    )


def test_hashtag_extraction_skips_numbers_urls_and_mid_word_hashes() -> None:
    text = "#One #one #123 a#b #two_2 #日本 https://example.com/#anchor"
    assert extract_hashtags(text) == ["One", "two_2", "日本"]
    rendered = render(text)
    assert "#123" in rendered and 'tags/123"' not in rendered
    assert 'tags/anchor"' not in rendered


def test_length_counts_urls_as_23_and_remote_mentions_by_username() -> None:
    assert text_length("x" * 10) == 10
    assert text_length("https://example.com/" + "a" * 200) == 23
    assert text_length("@carol@remote.example") == len("@carol")


def test_html_to_text_keeps_line_structure() -> None:
    assert html_to_text(render("a & b\nc\n\nd")) == "a & b\nc\n\nd"


@pytest.mark.parametrize(
    "dirty",
    [
        "<script>alert(1)</script>",
        '<img src="x" onerror="alert(1)">',
        "<style>p { color: red }</style>",
        '<iframe src="https://evil.example"></iframe>',
        "<svg><script>alert(1)</script></svg>",
        '<form action="/x"><input name="q"></form>',
    ],
)
def test_sanitizer_removes_dangerous_elements(dirty: str) -> None:
    clean = sanitize_html(f"<p>ok</p>{dirty}")
    assert clean.startswith("<p>ok</p>")
    for word in ("script", "onerror", "style", "iframe", "svg", "form", "input", "alert"):
        assert word not in clean


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox(1)",
    ],
)
def test_sanitizer_drops_dangerous_link_targets(href: str) -> None:
    clean = sanitize_html(f'<a href="{href}">x</a>')
    assert "href" not in clean
    assert ">x</a>" in clean


def test_sanitizer_removes_event_handlers_and_styles_but_keeps_text() -> None:
    clean = sanitize_html('<p onclick="steal()" style="color:red" id="x">kept</p>')
    assert clean == "<p>kept</p>"


def test_sanitizer_keeps_only_mastodon_classes_and_safe_links() -> None:
    clean = sanitize_html(
        '<a href="https://example.com" class="mention hashtag evil">t</a>'
        '<span class="h-card invisible ellipsis hidden">s</span>'
    )
    assert 'class="mention hashtag"' in clean
    assert 'class="h-card invisible ellipsis"' in clean
    assert "evil" not in clean and "hidden" not in clean
    assert 'rel="nofollow noopener"' in clean
    assert 'href="https://example.com"' in clean


def test_sanitizer_keeps_the_allowed_formatting_subset() -> None:
    kept = (
        "<p><strong>b</strong><em>i</em><del>d</del><code>c</code></p>"
        '<blockquote>q</blockquote><ol start="3"><li>x</li></ol><pre>p</pre>'
    )
    assert sanitize_html(kept) == kept


def test_rendered_posts_survive_sanitizing_with_their_links_and_classes() -> None:
    rendered = render("hi @bob #tag https://example.com/a/very/long/path/that/goes/on\nline")
    clean = sanitize_html(rendered)
    for part in (
        'href="https://local.test/@bob"',
        'class="u-url mention"',
        'class="mention hashtag"',
        'href="https://local.test/tags/tag"',
        'href="https://example.com/a/very/long/path/that/goes/on"',
        '<span class="invisible">https://</span>',
        '<span class="ellipsis">example.com/a/very/long/path/t</span>',
    ):
        assert part in clean
    assert html_to_text(clean) == html_to_text(rendered)
