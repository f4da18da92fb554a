"""A strict Content-Security-Policy on nbgrader's formgrader (a Jupyter server extension).

Threat model: the formgrader's pages live in the Jupyter server's own origin and show what
students made: the autograded notebook (outputs, markdown), student ids (folder names), file
names, comments. A script that runs there acts as the instructor: it can read ``source/`` through
``/api/contents``, open a terminal through ``/api/terminals``, and ask JupyterLab (nbgrader's lab
extension executes any command the formgrader frame posts to it) to run commands. nbgrader 0.9.6
renders its templates without autoescape (``var student_id = "{{ student_id }}";``) and serves
its JSON API and the files of a submission (``/formgrader/submissions/<id>/<file>``) as pages of
that origin. SanitizeAutograded makes the autograded notebook inert; this policy is the second
wall, for what it missed and for what is not a notebook.

How: a tornado output transform (``Application.transforms``, tornado's own seam for rewriting a
response) sets the header of every response under ``<base_url>formgrader/``:

- formgrader pages: scripts only from nbgrader's static folders (path-restricted, so a student's
  ``.js`` under ``/files/`` or ``/formgrader/submissions/`` cannot be loaded) and inline scripts
  only by hash, and only those whose text has the shape of a script in nbgrader's own templates,
  with every interpolated value free of quotes, backslashes and ``<`` (so a student id that breaks
  out of ``"..."`` gets no hash); event-handler attributes only those of the templates
  (``'unsafe-hashes'``); no ``eval``, frames, plugins, forms or ``<base>``; requests only to
  ``/formgrader/api/``; framed only by the server's own pages (JupyterLab);
- the JSON API and static files: nothing may run or load, the page is sandboxed in a unique
  origin (what jupyter_server does for ``/files/``) and may not be framed;
- the files of a submission: shown (styles, embedded images), sandboxed, no script.

Files under a ``submitted/``, ``autograded/`` or ``feedback/`` folder served by jupyter_server
(``/files/...``, ``/nbconvert/<format>/...``) get a sandbox *without* scripts: jupyter_server allows
scripts there (in a unique origin), and such a script could still post messages to the page that
frames it; in the formgrader's frame, that is nbgrader's lab extension, which runs any JupyterLab
command it is sent.

MathJax, which nbgrader's submission page needs (its keyboard shortcuts stop without it), may load
from the folder of the exporter's ``mathjax_url`` (a CDN by default), without ``'unsafe-eval'``:
MathJax 2 then skips the page's inline configuration (``$...$`` stays TeX; ``$$...$$`` renders), and
a ``text/x-mathjax-config`` block a student slipped in is not run either.

Violations are reported to jupyter_server's ``api/security/csp-report``, which logs them. Limit:
the header names the host the browser used (``Host``), which CSP cannot express for an IPv6
literal: reach the server by name or IPv4 address (else the formgrader's scripts are refused,
never allowed).
"""
from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tornado.web import OutputTransform

# Pieces of nbgrader's formgrader URL space (nbgrader/server_extensions/formgrader/handlers.py).
STATIC_PATHS = ("formgrader/static/", "formgrader/fonts/", "formgrader/submissions/components/")
API_PATH = "formgrader/api/"
# /formgrader/submissions/<id>/<file>: a file of the submission (student-made), not the page or its navigation
SUBMISSION_FILE = re.compile(r"formgrader/submissions/[^/]+/(?!(?:next|prev|next_incorrect|prev_incorrect)/?$).+")

# read with find(), never a regex that backtracks: a page can be 60 MB of a student's output
SCRIPT_OPEN = re.compile(r"<script(?=[\s/>])", re.IGNORECASE)
SCRIPT_CLOSE = re.compile(r"</script[\s/>]", re.IGNORECASE)
HANDLER = re.compile(r"""\son[a-z]+\s*=\s*"([^"]*)\"""", re.IGNORECASE)
JINJA_EXPR = re.compile(r"{{-?\s*(.*?)\s*-?}}", re.DOTALL)
JS_TYPES = {"", "text/javascript", "application/javascript", "module"}
# A value interpolated into a template's script: no way out of its string, no end of the script.
UNSAFE_IN_STRING = "\\\\<>&\x00-\x1f\x7f\u2028\u2029"
LOCKED = "default-src 'none'; sandbox; frame-ancestors 'none'"
# a formgrader page whose body this cannot see (a 304, a streamed reply): inert, still shown in its frame
UNSEEN_PAGE = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox; frame-ancestors 'self'"
# a student's file shown by jupyter_server: styles and embedded images, never a script
STUDENT_FILE = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox; frame-ancestors 'self'"
STUDENT_FOLDER = re.compile(r"(?:files|nbconvert/[^/]+)/(?:.*/)?(?:submitted|autograded|feedback)/")
CSP_HOST = re.compile(r"[A-Za-z0-9.-]+(:\d+)?")  # a host[:port] a CSP source expression can name


def sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def _is_javascript(attributes: str | None) -> bool:
    attributes = attributes or ""
    if re.search(r"\ssrc\s*=", " " + attributes, re.IGNORECASE):
        return False
    kind = re.search(r"""type\s*=\s*["']?([^"'\s>]*)""", attributes, re.IGNORECASE)
    return (kind.group(1).lower() if kind else "") in JS_TYPES


def inline_scripts(html: str) -> list[str]:
    """The text of every inline JavaScript ``<script>`` element of ``html``, in one pass. (Where
    this reads a script's end differently from a browser, the browser's text gets no hash.)"""
    scripts, position = [], 0
    while start := SCRIPT_OPEN.search(html, position):
        tag_end = html.find(">", start.end())
        end = SCRIPT_CLOSE.search(html, tag_end + 1) if tag_end >= 0 else None
        if end is None:
            break
        if _is_javascript(html[start.end():tag_end]):
            scripts.append(html[tag_end + 1:end.start()])
        position = end.end()
    return scripts


def template_shape(script: str, base_url: str) -> re.Pattern | None:
    """A regex matching what the template ``script`` renders to: its literal text, with each
    ``{{ value }}`` allowed only characters that keep it inside its string (``base_url`` exactly).
    ``None`` for a script with Jinja statements, which this cannot model."""
    if "{%" in script:
        return None
    pattern, last = [], 0
    for m in JINJA_EXPR.finditer(script):
        literal = script[last:m.start()]
        pattern.append(re.escape(literal))
        if m.group(1) in ("base_url", "resources.base_url"):
            pattern.append(re.escape(base_url.rstrip("/")))
        else:
            quote = literal[-1:] if literal[-1:] in ("'", '"') else ""
            pattern.append(f"[^{quote}{UNSAFE_IN_STRING}]*" if quote else r"[\w.+-]*")
        last = m.end()
    pattern.append(re.escape(script[last:]))
    return re.compile("".join(pattern))


class Templates:
    """The inline scripts and event handlers nbgrader's formgrader templates may produce."""

    def __init__(self, template_dir: Path, base_url: str):
        sources = [p.read_text() for p in sorted(Path(template_dir).rglob("*")) if p.suffix in (".tpl", ".j2")]
        shapes = [template_shape(s, base_url) for text in sources for s in inline_scripts(text)]
        self.shapes = [s for s in shapes if s is not None]
        self.handlers = sorted({h for text in sources for h in HANDLER.findall(text) if "{{" not in h and "{%" not in h})

    def allowed_hashes(self, html: str) -> list[str]:
        """Hashes of the inline scripts of ``html`` that have a template's shape (others get none)."""
        return sorted({sha256_source(s) for s in inline_scripts(html) if any(p.fullmatch(s) for p in self.shapes)})


def folder_source(url: str, origin: str) -> str:
    """A CSP source for the folder of ``url`` (absolute, or a path on this server); "" if none."""
    parts = urlsplit(url or "")
    folder = parts.path.rpartition("/")[0] + "/"
    if parts.scheme in ("http", "https") and CSP_HOST.fullmatch(parts.netloc):
        return f"{parts.scheme}://{parts.netloc}{folder}"
    if not parts.scheme and not parts.netloc and folder.startswith("/"):
        return origin + folder
    return ""


def page_policy(origin: str, base_url: str, script_hashes: list[str], handler_hashes: list[str],
                mathjax: str = "") -> str:
    """The policy of a formgrader page served at ``origin`` (``host[:port]``, as the browser sent
    it); ``mathjax``: the source MathJax may load from."""
    root = f"{origin}{base_url}"
    assets = " ".join([root + p for p in STATIC_PATHS] + ([mathjax] if mathjax else []))
    handlers = ["'unsafe-hashes'"] + handler_hashes if handler_hashes else []
    return "; ".join([
        "default-src 'none'",
        "script-src " + " ".join([assets] + handlers + script_hashes),
        f"style-src {assets} 'unsafe-inline'",
        f"img-src {root}formgrader/ data:",
        f"font-src {assets} data:",
        f"connect-src {root}{API_PATH}",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-src 'none'",
        "worker-src 'none'",
        "object-src 'none'",
        "frame-ancestors 'self'",
        f"report-uri {base_url}api/security/csp-report",
    ])


def policy_for(path: str, host: str, base_url: str, templates: Templates, html: str | None,
               mathjax_url: str = "") -> str | None:
    """The Content-Security-Policy of the response at ``path`` (``None``: leave jupyter_server's).
    ``html`` is the whole page when the response is one, else ``None``."""
    served = unquote(path)  # what the handler will open
    if served.startswith(base_url) and STUDENT_FOLDER.match(served[len(base_url):]):
        return STUDENT_FILE
    prefix = base_url + "formgrader"
    if not (path == prefix or path.startswith(prefix + "/")):
        return None
    inner = path[len(base_url):]
    if SUBMISSION_FILE.fullmatch(inner):
        return STUDENT_FILE
    if inner.startswith(API_PATH) or inner.startswith(STATIC_PATHS):
        return LOCKED
    if html is None or not CSP_HOST.fullmatch(host):  # unseen, or a host no CSP source can name (IPv6)
        return UNSEEN_PAGE
    handler_hashes = [sha256_source(h) for h in templates.handlers]
    return page_policy(host, base_url, templates.allowed_hashes(html), handler_hashes,
                       folder_source(mathjax_url, host))


def formgrader_transform(base_url: str, templates: Templates, settings: dict) -> type[OutputTransform]:
    """The output transform class (tornado makes one per request) for this server; ``settings``
    are the web application's (nbgrader's formgrader puts its HTML exporter there)."""

    class FormgraderPolicy(OutputTransform):
        def __init__(self, request):
            self._request = request

        def transform_first_chunk(self, status_code, headers, chunk, finishing):
            page = None
            if finishing and headers.get("Content-Type", "").startswith("text/html") \
                    and not headers.get("Content-Encoding"):
                page = chunk.decode("utf-8", "replace")
            mathjax_url = getattr(settings.get("nbgrader_exporter"), "mathjax_url", "")
            policy = policy_for(self._request.path, self._request.host, base_url, templates, page, mathjax_url)
            if policy is not None:
                headers["Content-Security-Policy"] = policy
            if policy not in (None, LOCKED, STUDENT_FILE):
                # A page's policy holds the hashes of its own scripts: a cached copy revalidated by a
                # 304 (which carries no body to hash) would get another. Never cached, no validator.
                headers["Cache-Control"] = "no-store"
                headers.pop("Etag", None)
            return status_code, headers, chunk

    return FormgraderPolicy


def _jupyter_server_extension_points():
    return [{"module": "labgrader.server.formgrader_csp"}]


def _load_jupyter_server_extension(serverapp):
    from nbgrader.server_extensions.formgrader import handlers

    web_app = serverapp.web_app
    base_url = web_app.settings.get("base_url", "/")
    templates = Templates(Path(handlers.template_path), base_url)
    # first, so that it sees the page before any compression (GZipContentEncoding) does
    web_app.transforms.insert(0, formgrader_transform(base_url, templates, web_app.settings))
    serverapp.log.info("labgrader: Content-Security-Policy on %sformgrader/ (%d template scripts, %d handlers)",
                       base_url, len(templates.shapes), len(templates.handlers))
