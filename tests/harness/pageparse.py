"""The status page parsed back: the elements and attributes its template writes, and nothing else."""

from __future__ import annotations

from html.parser import HTMLParser

# The page's own markup: anything else in it came from the document.
OWN_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "p", "b", "span", "section", "div",
    "bdi", "code", "progress", "dl", "dt", "dd", "footer",
}  # fmt: skip
OWN_ATTRIBUTES = {"lang", "charset", "http-equiv", "content", "name", "class", "aria-label", "id", "max", "value"}


class Page(HTMLParser):
    """Every start tag with its attributes, and the text, of one page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all_text(self) -> str:
        return "".join(self.text)


def assert_inert(html: str) -> Page:
    """No element or attribute the template does not write itself: no script, image, handler, link."""
    page = Page(html)
    for tag, attrs in page.tags:
        assert tag in OWN_TAGS, f"<{tag}> came from the document"
        for name, value in attrs.items():
            assert name in OWN_ATTRIBUTES and not name.startswith("on"), f"<{tag} {name}={value!r}>"
            if name == "http-equiv":
                assert value in ("Content-Security-Policy", "refresh"), value
    assert [tag for tag, _ in page.tags].count("style") == 1 and [t for t, _ in page.tags].count("title") == 1
    metas = [attrs for tag, attrs in page.tags if tag == "meta" and attrs.get("http-equiv") == "refresh"]
    assert len(metas) == 1 and (metas[0]["content"] or "").isdigit(), "a refresh to nowhere else"
    return page
