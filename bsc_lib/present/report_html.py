"""Assemble executed notebooks into ONE self-contained, offline HTML report.

The report has a title page, a table of contents (each notebook's H1 headings and their
H2s), and then, per notebook, its markdown and its cell outputs; code is never shown.
Plotly figures are rendered from their ``application/vnd.plotly.v1+json`` output with a
single inlined copy of plotly.js (from the installed ``plotly`` package); nothing is loaded
from the network: no require.js, MathJax, widget manager or CDN. A Content-Security-Policy
``<meta>`` (``default-src 'none'``, scripts allowed only by hash) makes the browser refuse
any fetch and any script other than plotly.js and the report's own bootstrap.

HTML from notebooks (markdown, ``text/html`` outputs such as pandas tables) is passed
through :func:`sanitize_html`, which removes scripts, event-handler attributes,
``javascript:`` URLs and external resource references. Text outputs are escaped.

The functions here are pure (notebooks in, a string out); writing the file is the job of
:mod:`bsc_lib.runs.pipeline`.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser

import mistune

from bsc_lib.present.labels import ui_text

log = logging.getLogger(__name__)

PLOTLY_MIME = "application/vnd.plotly.v1+json"
#: Font stack of the report (Korean first).
FONT_FAMILY = '"Noto Sans CJK KR", "Noto Sans KR", sans-serif'
#: Default plotly figure height (px) when the layout sets none.
DEFAULT_FIGURE_HEIGHT = 450
#: Printed figures are at most this tall (px, about 60 % of the A4 text height): a tall chart then
#: shares its page with the heading and figure before it instead of leaving a near-empty page.
PRINT_FIGURE_CAP = 600

_TEXT = {lang: ui_text("report", lang) for lang in ("ko", "en")}

_REMOVE_CELL_TAGS = frozenset({"remove-cell", "remove_cell"})
_REMOVE_OUTPUT_TAGS = frozenset({"remove-output", "remove_output", "hide-output", "hide_output"})
_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
_B64_RE = re.compile(r"^[A-Za-z0-9+/=\s]+$")
_TAG_RE = re.compile(r"<[^>]*>")


# ---------------------------------------------------------------------------------------------
# sanitising

#: Elements removed together with their content.
_DROP_WITH_CONTENT = frozenset({
    "script", "iframe", "object", "embed", "applet", "frame", "frameset", "noscript",
    "template", "title", "noembed", "noframes",
})
#: Elements whose tag is removed but whose content is kept (or which are void).
_DROP_TAG = frozenset({"base", "meta", "link", "form", "html", "head", "body", "input",
                       "button", "select", "option", "textarea", "portal"})
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                   "source", "track", "wbr", "param"})
_URL_ATTRS = frozenset({"href", "src", "xlink:href", "action", "formaction", "background",
                        "poster", "srcset", "data", "lowsrc", "dynsrc", "codebase", "cite",
                        "longdesc", "ping", "manifest", "icon"})
_NAME_RE = re.compile(r"^[a-z][a-z0-9:._-]*$")
_SAFE_DATA_IMG = re.compile(r"^data:image/(png|jpeg|gif|webp|svg\+xml)[;,]")
_CSS_IMPORT_RE = re.compile(r"@import[^;]*;?", re.IGNORECASE)
_CSS_URL_RE = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.IGNORECASE | re.DOTALL)


def _compact(url: str) -> str:
    return re.sub(r"[\s\x00-\x1f]+", "", html.unescape(url)).lower()


def _clean_css(css: str) -> str:
    css = _CSS_IMPORT_RE.sub("", css)

    def repl(m: re.Match) -> str:
        return m.group(0) if _compact(m.group(2)).startswith("data:") else "url()"

    return _CSS_URL_RE.sub(repl, css)


class _Sanitiser(HTMLParser):
    """Rebuild an HTML fragment keeping only inert markup (see :func:`sanitize_html`)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.out: list[str] = []
        self.skip: list[str] = []  # stack of dropped-with-content elements we are inside
        self.in_style = 0
        self.removed = 0

    @staticmethod
    def _url_ok(tag: str, name: str, value: str) -> bool:
        """Links may go anywhere (not javascript:); resources only to data images or #ids."""
        u = _compact(value)
        if u.startswith(("javascript:", "vbscript:", "livescript:")):
            return False
        if tag == "a" and name == "href":
            return not u.startswith("data:")
        if u.startswith("#"):
            return True
        return tag == "img" and name == "src" and bool(_SAFE_DATA_IMG.match(u))

    # tags
    def _attrs(self, tag: str, attrs: list[tuple[str, str | None]]) -> str:
        parts = []
        for name, value in attrs:
            name = (name or "").lower()
            if not _NAME_RE.match(name) or name.startswith("on") or name in ("srcdoc", "formaction", "action"):
                self.removed += 1
                continue
            if value is not None and name in _URL_ATTRS and not self._url_ok(tag, name, value):
                self.removed += 1
                continue
            if value is not None and name == "style" and "url(" in value.lower():
                value = _clean_css(value)
            parts.append(name if value is None else f'{name}="{html.escape(value, quote=True)}"')
        return "".join(" " + p for p in parts)

    def handle_starttag(self, tag, attrs):
        self._start(tag, attrs, closed=False)

    def handle_startendtag(self, tag, attrs):
        self._start(tag, attrs, closed=True)

    def _start(self, tag, attrs, closed):
        tag = tag.lower()
        if self.skip:
            if tag == self.skip[-1] and not closed and tag not in _VOID:
                self.skip.append(tag)
            return
        if tag in _DROP_WITH_CONTENT:
            self.removed += 1
            if not closed and tag not in _VOID:
                self.skip.append(tag)
            return
        if tag in _DROP_TAG or not _NAME_RE.match(tag):
            self.removed += 1
            return
        if tag == "style" and not closed:
            self.in_style += 1
        self.out.append(f"<{tag}{self._attrs(tag, attrs)}{' /' if closed else ''}>")

    def handle_endtag(self, tag):
        tag = tag.lower()
        if self.skip:
            if tag == self.skip[-1]:
                self.skip.pop()
            return
        if tag in _DROP_WITH_CONTENT or tag in _DROP_TAG or not _NAME_RE.match(tag) or tag in _VOID:
            return
        if tag == "style" and self.in_style:
            self.in_style -= 1
        self.out.append(f"</{tag}>")

    # text
    def handle_data(self, data):
        if self.skip:
            return
        if self.in_style:
            self.out.append(_clean_css(data))
        else:
            self.out.append(data.replace("<", "&lt;").replace(">", "&gt;"))

    def handle_entityref(self, name):
        if not self.skip:
            self.out.append(f"&{name};" if re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", name) else f"&amp;{html.escape(name)}")

    def handle_charref(self, name):
        if not self.skip:
            self.out.append(f"&#{name};" if re.fullmatch(r"[xX]?[0-9A-Fa-f]+", name) else f"&amp;#{html.escape(name)}")

    def handle_comment(self, data):
        pass

    def handle_decl(self, decl):
        pass

    def handle_pi(self, data):
        pass

    def unknown_decl(self, data):
        pass


def sanitize_html(fragment: str) -> str:
    """Remove everything active or remote from an HTML fragment.

    Removed: ``<script>``/``<iframe>``/``<object>``/``<embed>``/``<template>`` … with their
    content; ``<link>``, ``<meta>``, ``<base>``, form controls (tag only); comments;
    ``on*`` event-handler attributes; ``javascript:``/``vbscript:``/non-image ``data:`` URLs;
    ``src``/``srcset``/``poster``/… pointing to the network (links ``<a href>`` may point
    anywhere: following them is the reader's choice); ``@import`` and remote ``url()`` in CSS.
    Text and attribute values are re-escaped.

    Parameters
    ----------
    fragment
        HTML from a notebook (markdown rendering or a ``text/html`` output).

    Returns
    -------
    str
        The inert HTML.
    """
    p = _Sanitiser()
    p.feed(fragment)
    p.close()
    if p.removed:
        log.debug("sanitize_html removed %d element(s)/attribute(s)", p.removed)
    return "".join(p.out)


_REMOTE_SCRIPT_RE = re.compile(r"<script\b[^>]*\bsrc\s*=\s*['\"]?\s*(?:https?:)?//", re.IGNORECASE)
_REMOTE_LINK_RE = re.compile(r"<link\b[^>]*\bhref\s*=\s*['\"]?\s*(?:https?:)?//", re.IGNORECASE)
_REMOTE_ATTR_RE = re.compile(
    r"<(?!a\b)[a-z][a-z0-9]*\b[^>]*\b(?:src|srcset|poster|background|data)\s*=\s*['\"]?\s*(?:https?:)?//[^\s'\">]*",
    re.IGNORECASE)
_CSS_REMOTE_RE = re.compile(r"(?:@import|url\(\s*['\"]?\s*(?:https?:)?//)[^)\n]{0,200}", re.IGNORECASE)


def external_references(document: str) -> list[str]:
    """Markup in ``document`` that would make a browser fetch from the network.

    Looks for ``<script src>``/``<link href>`` and ``src``-like attributes of any element but
    ``<a>`` with an ``http(s)://`` or protocol-relative URL, and CSS ``@import``/remote
    ``url()``. The plotly.js source itself is skipped. A report built by
    :func:`build_report_html` gives an empty list.

    Returns
    -------
    list of str
        The offending snippets (at most 200 characters each).
    """
    hits: list[str] = []
    # skip inline script bodies: their text is code, not markup (plotly.js mentions URLs)
    markup = re.sub(r"(<script\b[^>]*>)(.*?)(</script\s*>)", r"\1\3", document,
                    flags=re.IGNORECASE | re.DOTALL)
    for rx in (_REMOTE_SCRIPT_RE, _REMOTE_LINK_RE, _REMOTE_ATTR_RE, _CSS_REMOTE_RE):
        hits.extend(m.group(0)[:200] for m in rx.finditer(markup))
    return hits


# ---------------------------------------------------------------------------------------------
# markdown


@dataclass
class Heading:
    """A heading found in a notebook: level 1 or 2, its anchor id and plain-text label."""

    level: int
    anchor: str
    text: str


@dataclass
class _State:
    nb_index: int
    headings: list[Heading] = field(default_factory=list)
    figures: int = 0
    fig_offset: int = 0

    def anchor(self) -> str:
        return f"nb{self.nb_index:02d}-h{len(self.headings) + 1}"


class _HeadingRenderer(mistune.HTMLRenderer):
    def __init__(self, state: _State):
        super().__init__(escape=False)
        self.state = state

    def heading(self, text: str, level: int, **attrs) -> str:
        anchor = self.state.anchor()
        label = html.unescape(_TAG_RE.sub("", text)).strip()
        self.state.headings.append(Heading(level=level, anchor=anchor, text=label))
        return f'<h{level} id="{anchor}">{text}</h{level}>\n'


def _markdown(text: str, state: _State) -> str:
    md = mistune.create_markdown(renderer=_HeadingRenderer(state),
                                 plugins=["table", "strikethrough", "math"])
    return sanitize_html(md(text))


# ---------------------------------------------------------------------------------------------
# outputs


def _json_for_script(obj) -> str:
    """JSON that is safe inside ``<script type="application/json">``."""
    s = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return (s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _join(v) -> str:
    return "".join(v) if isinstance(v, list) else str(v)


def _plain(text: str, cls: str) -> str:
    return f'<pre class="{cls}">{html.escape(_ANSI_RE.sub("", text))}</pre>'


def _figure(fig: Mapping, state: _State) -> str:
    state.figures += 1
    fid = f"fig-{state.fig_offset + state.figures}"
    layout = fig.get("layout") or {}
    height = layout.get("height") if isinstance(layout, Mapping) else None
    if not isinstance(height, int | float) or isinstance(height, bool) or not 50 <= height <= 5000:
        height = DEFAULT_FIGURE_HEIGHT
    payload = {"data": fig.get("data") or [], "layout": layout, "config": fig.get("config") or {}}
    return (f'<div class="plotly-figure" id="{fid}" style="height:{int(height)}px"></div>\n'
            f'<script type="application/json" class="plotly-data" data-target="{fid}">'
            f"{_json_for_script(payload)}</script>")


def _is_plotly_init(h: str) -> bool:
    return "window.PlotlyConfig" in h or ("plotly.js v" in h[:3000] and len(h) > 100_000)


def _render_output(out: Mapping, state: _State) -> str:
    kind = out.get("output_type")
    if kind == "stream":
        if out.get("name") == "stderr":  # warnings and logs are not part of the report
            log.debug("notebook %d: stderr output omitted", state.nb_index)
            return ""
        return _plain(_join(out.get("text", "")), "stream")
    if kind == "error":
        msg = f"{out.get('ename', '')}: {out.get('evalue', '')}"
        return _plain(msg, "error")
    if kind not in ("display_data", "execute_result"):
        return ""
    data = out.get("data") or {}
    if PLOTLY_MIME in data and isinstance(data[PLOTLY_MIME], Mapping):
        return _figure(data[PLOTLY_MIME], state)
    if "text/html" in data:
        h = _join(data["text/html"])
        if _is_plotly_init(h):
            return ""
        if "plotly-graph-div" in h:
            log.warning("notebook %d: a plotly figure without its JSON output was dropped "
                        "(use the plotly_mimetype renderer)", state.nb_index)
        return f'<div class="html-output">{sanitize_html(h)}</div>'
    for mime in ("image/svg+xml", "image/png", "image/jpeg"):
        if mime in data:
            raw = _join(data[mime])
            if mime == "image/svg+xml":  # as an <img>, an SVG can never run scripts
                b64 = base64.b64encode(raw.encode("utf-8")).decode("ascii")
            elif _B64_RE.match(raw):
                b64 = re.sub(r"\s+", "", raw)
            else:
                continue
            return f'<img class="image-output" alt="" src="data:{mime};base64,{b64}" />'
    if "text/markdown" in data:
        return f'<div class="markdown-output">{_markdown(_join(data["text/markdown"]), state)}</div>'
    if "text/latex" in data:
        return _plain(_join(data["text/latex"]), "latex")
    if "application/vnd.jupyter.widget-view+json" in data:
        return ""
    if "text/plain" in data:
        return _plain(_join(data["text/plain"]), "text-output")
    return ""


def _tags(cell: Mapping) -> set[str]:
    return set((cell.get("metadata") or {}).get("tags") or [])


#: Separator of the two languages in a notebook's markdown line: ``한국어 · English``.
LANG_SEPARATOR = " · "


def localize_markdown(text: str, lang: str) -> str:
    """Keep one language of a bilingual markdown cell.

    A line (heading or paragraph) written ``한국어 · English`` — exactly one ``" · "`` — keeps
    the part before the separator in a ``ko`` report and the part after it in an ``en``
    report (a heading keeps its ``#`` marks). Other lines are unchanged.
    """
    out = []
    for line in text.split("\n"):
        m = re.match(r"^(\s*#{1,6}\s+)?(.*)$", line)
        prefix, body = m.group(1) or "", m.group(2)
        if body.count(LANG_SEPARATOR) == 1:
            ko, en = body.split(LANG_SEPARATOR)
            num = re.match(r"^(\d+\s+)", ko)  # a section number before the Korean title stays
            body = ko if lang == "ko" else (num.group(1) if num and not en.startswith(num.group(1)) else "") + en
        out.append(prefix + body.strip() if prefix else body)
    return "\n".join(out)


def section_slug(name: str) -> str:
    """The stable anchor of a notebook's section: ``sec-`` + the file name without number and extension.

    ``02-scores.ipynb`` → ``sec-scores`` (commentary files and the summary's links use it).
    """
    stem = re.sub(r"\.ipynb$", "", str(name))
    stem = re.sub(r"^\d+[-_]", "", stem)
    return "sec-" + re.sub(r"[^a-z0-9-]+", "-", stem.lower()).strip("-")


_NOTE_HEAD_RE = re.compile(r"^#\s+(.+?)\s*$")


def parse_notes(text: str) -> dict[str, str]:
    """Split an analyst's commentary file into ``{key: markdown}``.

    The file has one level-1 heading per section: ``# summary`` or ``# sec-summary`` (the
    section's :func:`section_slug`), and optionally ``# unit I38`` for a note on one unit
    (key ``unit:I38``). Text before the first heading is ignored; deeper headings stay in
    the text. Keys are normalised to ``sec-…`` / ``unit:…``.
    """
    out: dict[str, list[str]] = {}
    key = None
    for line in text.replace("\r\n", "\n").split("\n"):
        m = _NOTE_HEAD_RE.match(line)
        if m and not line.startswith("##"):
            head = m.group(1).strip()
            parts = head.split(None, 1)
            if parts[0].lower() == "unit" and len(parts) == 2:
                key = "unit:" + parts[1].strip()
            else:
                key = head if head.startswith("sec-") else "sec-" + head.lower()
            out.setdefault(key, [])
            continue
        if key is not None:
            out[key].append(line)
    return {k: "\n".join(v).strip() for k, v in out.items() if "\n".join(v).strip()}


def _commentary_box(md_text: str, title: str) -> str:
    return (f'<aside class="commentary"><div class="commentary-title">{html.escape(title)}</div>'
            f"{_markdown(md_text, _State(nb_index=0))}</aside>")


def _render_notebook(nb: Mapping, state: _State, lang: str = "ko") -> str:
    parts: list[str] = []
    for cell in nb.get("cells", []):
        tags = _tags(cell)
        if tags & _REMOVE_CELL_TAGS or "papermill-error-cell-tag" in tags:
            continue
        ctype = cell.get("cell_type")
        if ctype == "markdown":
            src = localize_markdown(_join(cell.get("source", "")), lang)
            parts.append(f'<div class="cell markdown">{_markdown(src, state)}</div>')
        elif ctype == "code" and not tags & _REMOVE_OUTPUT_TAGS:
            rendered = [r for o in cell.get("outputs", []) if (r := _render_output(o, state))]
            if rendered:
                parts.append('<div class="cell output">' + "\n".join(rendered) + "</div>")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# document

_CSS = """
:root { --ink: #1d2530; --muted: #5b6675; --rule: #d5dbe3; --accent: #1f4e8c; }
* { box-sizing: border-box; }
html { font-family: FONT; color: var(--ink); line-height: 1.55; }
body { margin: 0; background: #fff; }
.page { max-width: 1000px; margin: 0 auto; padding: 24px 32px 64px; }
h1, h2, h3, h4 { color: var(--accent); line-height: 1.3; }
h1 { font-size: 1.8em; border-bottom: 2px solid var(--accent); padding-bottom: .2em; margin-top: 1.2em; }
h2 { font-size: 1.35em; border-bottom: 1px solid var(--rule); padding-bottom: .15em; }
a { color: var(--accent); }
.title-page { min-height: 80vh; display: flex; flex-direction: column; justify-content: center; }
.title-page .report-title { font-size: 2.4em; font-weight: 700; color: var(--accent); margin: 0 0 .3em; }
.title-page .report-subtitle { font-size: 1.3em; color: var(--muted); margin: 0 0 2em; }
.title-page table.meta { border-collapse: collapse; font-size: .95em; align-self: flex-start; }
.title-page table.meta th, .title-page table.meta td { border: none; background: none; }
.title-page table.meta th { text-align: left; color: var(--muted); font-weight: 500; padding: .25em 1.5em .25em 0; vertical-align: top; }
.title-page table.meta td { padding: .25em 0; word-break: break-all; }
nav.toc .toc-title { font-size: 1.5em; font-weight: 700; color: var(--accent); border-bottom: 2px solid var(--accent); margin: 1em 0 .6em; }
nav.toc ol { padding-left: 1.4em; }
nav.toc > ol > li { margin: .45em 0; font-weight: 600; }
nav.toc ol ol { font-weight: 400; margin: .15em 0; }
nav.toc a { text-decoration: none; }
section.notebook { margin-top: 2.5em; }
.cell { margin: .8em 0; }
.cell.output { overflow-x: auto; }
pre { white-space: pre-wrap; word-break: break-word; background: #f5f7fa; padding: .6em .8em; border-radius: 4px; font-size: .9em; }
pre.error { background: #fdecea; color: #8a1c1c; }
table { border-collapse: collapse; font-size: .9em; margin: .5em 0; }
th, td { border: 1px solid var(--rule); padding: .3em .6em; }
thead th { background: #eef2f7; text-align: left; vertical-align: bottom; }
td { font-variant-numeric: tabular-nums; }
img.image-output { max-width: 100%; height: auto; }
.plotly-figure { width: 100%; margin: .5em 0 1.2em; }
.figure-error { color: #8a1c1c; }
.watermark { position: fixed; top: 42%; left: 0; right: 0; text-align: center; font-size: 64px; font-weight: 700;
  color: rgba(180, 30, 30, .10); transform: rotate(-28deg); pointer-events: none; z-index: 1000; white-space: nowrap; }
.classification { display: inline-block; border: 2px solid #8a1c1c; color: #8a1c1c; font-weight: 700; padding: .1em .6em;
  margin-bottom: 1em; align-self: flex-start; }
.commentary { border-left: 4px solid #1f4e8c; background: #f1f5fb; padding: .6em 1em; margin: 1em 0; }
.commentary .commentary-title { font-weight: 700; color: #1f4e8c; margin-bottom: .3em; }
.print-only { display: none; }
@page { size: A4; margin: 17mm 11mm 16mm;
  @top-left { content: PRINT_HEADER; font-family: FONT; font-size: 8pt; color: #5b6675; }
  @top-right { content: PRINT_CLASS; font-family: FONT; font-size: 8pt; font-weight: 700; color: #8a1c1c; }
  @bottom-left { content: PRINT_FOOTER; font-family: FONT; font-size: 7.5pt; color: #5b6675; }
  @bottom-right { content: counter(page) " / " counter(pages); font-family: FONT; font-size: 8pt; color: #5b6675; }
}
@page :first { @top-left { content: none; } @bottom-left { content: none; } }
@media print {
  html { font-size: 10pt; }
  .page { max-width: none; padding: 0; }
  .title-page { min-height: 0; height: 240mm; break-after: page; }
  nav.toc { break-before: page; break-after: page; font-size: 9pt; }
  nav.toc > ol { columns: 2; column-gap: 2em; }
  nav.toc > ol > li { break-inside: avoid; }
  section.notebook { break-before: page; margin-top: 0; }
  h1, h2, h3 { break-after: avoid; }
  .cell.markdown { break-after: avoid; }
  .plotly-figure, pre, img, tr { break-inside: avoid; }
  .cell.output { overflow: visible; }
  table { width: 100%; font-size: 7.5pt; table-layout: auto; }
  th, td { padding: .2em .35em; overflow-wrap: anywhere; word-break: break-word; }
  .modebar, .modebar-container { display: none !important; }
  a { color: inherit; text-decoration: none; }
  .print-only { display: block; }
}
"""


def _css_string(text: str) -> str:
    """``text`` as a CSS string literal."""
    return '"' + "".join(c if c.isalnum() or c in " -_.:/()·,[]" else f"\\{ord(c):x} " for c in text) + '"'


def _css(header: str = "", footer: str = "", classification: str = "") -> str:
    return (_CSS.replace("PRINT_HEADER", _css_string(header)).replace("PRINT_FOOTER", _css_string(footer))
            .replace("PRINT_CLASS", _css_string(classification)).replace("FONT", FONT_FAMILY))

_BOOTSTRAP = """
(function () {
  var FONT = %s;
  var MSG = %s;
  var nodes = document.querySelectorAll('script.plotly-data');
  for (var i = 0; i < nodes.length; i++) {
    var el = document.getElementById(nodes[i].getAttribute('data-target'));
    try {
      var fig = JSON.parse(nodes[i].textContent);
      var layout = fig.layout || {};
      layout.font = Object.assign({family: FONT}, layout.font || {});
      var config = Object.assign({responsive: true, displaylogo: false}, fig.config || {});
      Plotly.newPlot(el, fig.data || [], layout, config);
    } catch (e) {
      el.textContent = MSG + ': ' + e;
      el.className += ' figure-error';
    }
  }
  // Print: no figure taller than PRINT_CAP px (about 60 %% of an A4 page), so a tall chart can
  // share a page with its heading and the figure before it instead of leaving a near-empty page.
  // Fonts shrink with the figure (not below 7 px) so the rows of a long bar chart stay apart.
  var PRINT_CAP = %d;
  function fontKeys(p) {
    var keys = ['font.size'];
    for (var k in p.layout) { if (/^[xy]axis[0-9]*$/.test(k)) { keys.push(k + '.tickfont.size'); } }
    return keys;
  }
  function get(obj, path) {
    var parts = path.split('.');
    for (var i = 0; i < parts.length && obj; i++) { obj = obj[parts[i]]; }
    return obj;
  }
  window.addEventListener('beforeprint', function () {
    var plots = document.querySelectorAll('.js-plotly-plot');
    for (var j = 0; j < plots.length; j++) {
      var p = plots[j], h = (p.layout && p.layout.height) || p.clientHeight;
      if (h > PRINT_CAP) {
        var scale = PRINT_CAP / h, keys = fontKeys(p), saved = {height: h}, upd = {height: PRINT_CAP};
        for (var k = 0; k < keys.length; k++) {
          var v = get(p.layout, keys[k]);
          saved[keys[k]] = v === undefined ? null : v;
          upd[keys[k]] = Math.max(7, Math.round((v || 12) * Math.max(scale, 0.6)));
        }
        p.bscScreen = saved;
        p.style.height = PRINT_CAP + 'px';
        Plotly.relayout(p, upd);
      } else { Plotly.Plots.resize(p); }
    }
  });
  window.addEventListener('afterprint', function () {
    var plots = document.querySelectorAll('.js-plotly-plot');
    for (var j = 0; j < plots.length; j++) {
      var saved = plots[j].bscScreen;
      if (!saved) { continue; }
      plots[j].style.height = saved.height + 'px';
      Plotly.relayout(plots[j], saved);
      plots[j].bscScreen = null;
    }
  });
})();
"""


def _csp_hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode() + "'"


def _toc(sections: Sequence[tuple[str, str, list[Heading]]], label: str) -> str:
    items = []
    for sec_id, fallback, heads in sections:
        entries: list[tuple[Heading, list[Heading]]] = []
        for h in heads:
            if h.level == 1:
                entries.append((h, []))
            elif h.level == 2:
                if not entries:  # H2 before any H1: hang it under the notebook's name
                    entries.append((Heading(1, sec_id, fallback), []))
                entries[-1][1].append(h)
        if not entries:
            entries.append((Heading(1, sec_id, fallback), []))
        for top, subs in entries:
            sub = ""
            if subs:
                sub = "<ol>" + "".join(
                    f'<li><a href="#{s.anchor}">{html.escape(s.text)}</a></li>' for s in subs) + "</ol>"
            items.append(f'<li><a href="#{top.anchor}">{html.escape(top.text)}</a>{sub}</li>')
    return (f'<nav class="toc" id="toc"><div class="toc-title">{html.escape(label)}</div>'
            f'<ol>{"".join(items)}</ol></nav>')


def build_report_html(
    notebooks: Sequence[tuple[str, Mapping]],
    *,
    title: str,
    subtitle: str = "",
    meta: Iterable[tuple[str, str]] | Mapping[str, str] = (),
    lang: str = "ko",
    plotly_js: str | None = None,
    print_header: str = "",
    print_footer: str = "",
    classification: str = "",
    watermark: str = "",
    commentary: Mapping[str, str] | None = None,
    unit_names: Mapping[str, str] | None = None,
) -> str:
    """Combine executed notebooks into one self-contained HTML document.

    Parameters
    ----------
    notebooks
        ``(name, notebook)`` pairs in report order; ``notebook`` is an nbformat v4
        notebook (``nbformat.NotebookNode`` or the equivalent dict). ``name`` (e.g. the file
        name) labels a notebook without an H1 heading.
    title, subtitle
        Title page text (escaped).
    meta
        ``(label, value)`` rows shown on the title page (escaped), e.g. year, scheme, run id.
    lang
        ``"ko"`` or ``"en"``: language of the report's own words (contents, messages).
    plotly_js
        The plotly.js source to inline; default: ``plotly.offline.get_plotlyjs()`` of the
        installed plotly. Inlined once, and only when there is at least one figure.
    print_header, print_footer
        Running header (top left, e.g. title and year) and footer (bottom left, e.g. the run id)
        of the printed pages; page numbers ``n / N`` print bottom right.
    classification
        Classification mark (e.g. ``대외비``): top right of every printed page and on the cover.
    watermark
        Text repeated across every page (e.g. "synthetic data"); empty = none.
    commentary
        ``{section slug or "sec-…": markdown}``: an analyst's commentary shown in a box at the
        top of that section (:func:`parse_notes`); ``unit:<id>`` notes are shown in the first
        section, named by ``unit_names``. Keys matching no section are logged and ignored.
    unit_names
        ``{unit id: name}`` for the unit notes.

    Returns
    -------
    str
        The HTML document. Code cells' inputs are omitted; cells tagged ``remove-cell``
        and outputs of cells tagged ``remove-output`` are skipped; ``stderr`` streams
        are omitted.
    """
    if lang not in _TEXT:
        raise ValueError(f"lang must be one of {sorted(_TEXT)}, got {lang!r}")
    text = _TEXT[lang]
    sections_html: list[str] = []
    toc_sections: list[tuple[str, str, list[Heading]]] = []
    n_figures = 0
    notes = {(k if k.startswith(("sec-", "unit:")) else "sec-" + k): v for k, v in (commentary or {}).items()}
    used: set[str] = set()
    for i, (name, nb) in enumerate(notebooks, start=1):
        state = _State(nb_index=i, fig_offset=n_figures)
        body = _render_notebook(nb, state, lang)
        slug = section_slug(name)
        boxes = ""
        if slug in notes:
            used.add(slug)
            boxes += _commentary_box(notes[slug], text["commentary"])
        if i == 1:
            units = {k: v for k, v in notes.items() if k.startswith("unit:")}
            used.update(units)
            if units:
                md_units = "\n\n".join(f"**{(unit_names or {}).get(k[5:], k[5:])}** — {v}" for k, v in units.items())
                boxes += _commentary_box(md_units, text["commentary_units"])
        if boxes:  # after the section's H1 and purpose line
            cut = body.find("</div>") + len("</div>") if body.startswith('<div class="cell markdown">') else 0
            body = body[:cut] + boxes + body[cut:]
        n_figures += state.figures
        sec_id = f"nb{i:02d}"
        fallback = re.sub(r"\.ipynb$", "", str(name))
        toc_sections.append((sec_id, fallback, state.headings))
        sections_html.append(
            f'<section class="notebook" id="{sec_id}" data-notebook="{html.escape(str(name))}">\n'
            f'<span class="anchor" id="{section_slug(name)}"></span>\n{body}\n</section>')
    for k in sorted(set(notes) - used):
        log.warning("commentary: no section %r in this report (sections: %s)", k,
                    ", ".join(section_slug(n) for n, _ in notebooks))
    rows = list(meta.items()) if isinstance(meta, Mapping) else list(meta)
    meta_html = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    title_page = (
        '<header class="title-page">'
        + (f'<div class="classification">{html.escape(classification)}</div>' if classification else "")
        + f'<div class="report-title">{html.escape(title)}</div>'
        + (f'<div class="report-subtitle">{html.escape(subtitle)}</div>' if subtitle else "")
        + (f'<table class="meta">{meta_html}</table>' if meta_html else "")
        + "</header>")
    scripts: list[str] = []
    if n_figures:
        if plotly_js is None:
            from plotly.offline import get_plotlyjs

            plotly_js = get_plotlyjs()
        if re.search(r"</script", plotly_js, re.IGNORECASE):
            raise ValueError("plotly_js contains '</script': cannot be inlined")
        bootstrap = _BOOTSTRAP % (json.dumps(FONT_FAMILY), json.dumps(text["fig_error"], ensure_ascii=False),
                                  PRINT_FIGURE_CAP)
        scripts = [plotly_js, bootstrap]
    script_src = " ".join(_csp_hash(s) for s in scripts) or "'none'"
    csp = (f"default-src 'none'; script-src {script_src} 'unsafe-eval'; style-src 'unsafe-inline'; "
           "img-src data: blob:; font-src data:; worker-src blob:; connect-src 'none'; "
           "base-uri 'none'; form-action 'none'; frame-src 'none'; object-src 'none'")
    head = (
        "<!DOCTYPE html>\n"
        f'<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(csp)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="bsc-workbench">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_css(print_header, print_footer, classification)}</style>\n"
        + (f'<script id="plotlyjs">{scripts[0]}</script>\n' if scripts else "")
        + "</head>\n")
    body = (
        '<body>\n'
        + (f'<div class="watermark" aria-hidden="true">{html.escape(watermark)}</div>\n' if watermark else "")
        + '<div class="page">\n'
        f"{title_page}\n<main>\n"
        + "\n".join(sections_html[:1]) + "\n" + _toc(toc_sections, text["toc"]) + "\n"
        + "\n".join(sections_html[1:])
        + "\n</main>\n</div>\n"
        + (f"<script>{scripts[1]}</script>\n" if scripts else "")
        + "</body>\n</html>\n")
    return head + body


def count_figures(document: str) -> int:
    """Number of plotly figures in a report built by :func:`build_report_html`."""
    return len(re.findall(r'<div class="plotly-figure" id="fig-\d+"', document))


__all__ = ["FONT_FAMILY", "Heading", "build_report_html", "count_figures", "external_references", "localize_markdown",
           "parse_notes", "sanitize_html", "section_slug"]
