"""The docs name only what exists.

Every repository path, relative link (with its #anchor), and module attribute
that README.md or a page in docs/ names must exist; every docs section a code
comment points to must exist; each page in docs/ says what it is for and lists
its sections. Read as text: no Django, no database.
"""

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Not part of the repository: tools' folders and what tests and builds write.
IGNORED = {".git", ".venv", "__pycache__", "node_modules", "staticfiles", "test-artifacts", ".ruff_cache"}
TOP_DIRS = sorted(p.name for p in ROOT.iterdir() if p.is_dir() and p.name not in IGNORED)

URL = re.compile(r"\b(?:https?|ftp|mailto):[^\s)>`\"']+")
FENCE = re.compile(r"^ *```.*?^ *```[^\n]*$", re.MULTILINE | re.DOTALL)
# A path under one of the repository's top-level folders, not itself the tail of a
# longer path or URL (`/voice/answer/`, `$API/orders/…`, `saleor/webhook/`).
REPO_PATH = re.compile(r"(?<![\w./$<{}-])((?:" + "|".join(map(re.escape, TOP_DIRS)) + r")/[\w./*-]*)")
# A file named on its own (`test_xml.py`, `RESULTS.md`): it must exist somewhere in the repository.
FILE_NAME = re.compile(r"(?<![\w./$<{}-])([\w-][\w.-]*\.(?:py|md))(?![\w/-])")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)
# `orders.models.live_orders`, `voice.plivo.webhook.plivo_webhook(...)`: a module and what it defines.
DOTTED = re.compile(r"`((?:orders|voice|numbermasking|bench)(?:\.\w+)+)[`(]")
# System check ids (`orders.E006`, `voice.W001`), a permission and file names (`orders.py`), not modules.
NOT_MODULES = re.compile(r"^(?:orders|voice)\.(?:[EW]\d*|listen_recording)$|^.*\.(?:py|md)$")


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def prose(text: str) -> str:
    """The text without fenced code blocks, where headings and links mean something."""
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"[^\w\- ]", "", text.replace("`", "").strip().lower())
    return text.replace(" ", "-")


def headings(path: Path) -> list[tuple[int, str]]:
    return [(len(hashes), title) for hashes, title in HEADING.findall(prose(read(path)))]


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for _, title in headings(path):
        base = slug(title)
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


def repository_files() -> dict[str, list[Path]]:
    by_name: dict[str, list[Path]] = {}
    for path in ROOT.rglob("*"):
        if path.is_file() and not IGNORED.intersection(path.relative_to(ROOT).parts):
            by_name.setdefault(path.name, []).append(path)
    return by_name


def named_paths(text: str) -> set[str]:
    """Repository paths and file names a text names, URLs left out."""
    text = URL.sub(" ", text)
    paths = {match.rstrip(".") for match in REPO_PATH.findall(text)}
    names = {match.rstrip(".") for match in FILE_NAME.findall(text)}
    return paths | names


def path_exists(name: str, files: dict[str, list[Path]]) -> bool:
    if "/" not in name:
        return name in files
    if "*" in name:
        return any(ROOT.glob(name))
    return (ROOT / name).exists()


def missing_paths(path: Path, files: dict[str, list[Path]]) -> list[str]:
    return sorted(name for name in named_paths(read(path)) if not path_exists(name, files))


def broken_links(path: Path) -> list[str]:
    broken = []
    for target in LINK.findall(prose(read(path))):
        if re.match(r"^[a-z]+:", target):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists() or (anchor and linked.suffix == ".md" and anchor not in anchors(linked)):
            broken.append(target)
    return sorted(set(broken))


def module_file(dotted: str) -> Path | None:
    base = ROOT.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def defines(tree: ast.Module | ast.ClassDef, name: str) -> ast.AST | None:
    """The statement that binds ``name`` in a module or class body (def, class, assignment, import)."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name:
            return node
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(target, ast.Name) and target.id == name for target in targets):
                return node
        if isinstance(node, ast.Import | ast.ImportFrom) and any(
            (alias.asname or alias.name.split(".")[0]) == name for alias in node.names
        ):
            return node
    return None


def unresolved(dotted: str) -> bool:
    """True unless ``dotted`` is a module, or a module and a name it defines (and, for a class, its member)."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        found = module_file(".".join(parts[:end]))
        if found is None:
            continue
        rest = parts[end:]
        if not rest:
            return False
        node = defines(ast.parse(read(found)), rest[0])
        if node is None:
            return True
        if len(rest) > 1 and isinstance(node, ast.ClassDef):
            return defines(node, rest[1]) is None
        return False
    return True


@pytest.fixture(scope="module")
def files() -> dict[str, list[Path]]:
    return repository_files()


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_repository_path_a_doc_names_exists(doc, files):
    assert missing_paths(doc, files) == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_relative_link_and_anchor_a_doc_has_exists(doc):
    assert broken_links(doc) == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_module_and_name_a_doc_gives_exists(doc):
    named = {name for name in DOTTED.findall(read(doc)) if not NOT_MODULES.match(name)}
    assert sorted(name for name in named if unresolved(name)) == []


@pytest.mark.parametrize("doc", DOCS[1:], ids=lambda path: path.name)
def test_each_doc_says_what_it_is_for_and_lists_its_sections(doc):
    text = prose(read(doc))
    title, _, rest = text.partition("\n")
    assert title.startswith("# "), "a doc starts with its title"
    first = rest.lstrip("\n").split("\n\n", 1)[0]
    assert first and not first.startswith(("#", "-", "|", "`")), "then a paragraph saying what the doc is for"
    listed = {target.lstrip("#") for target in LINK.findall(text) if target.startswith("#")}
    sections = {slug(title) for level, title in headings(doc) if level == 2} - {"contents"}
    assert sections - listed == set(), "the contents list names every section"


def test_the_readme_stays_a_front_door():
    assert len(read(ROOT / "README.md").splitlines()) < 300


# A code comment's pointer: `README, "Metrics"`, `(docs/plivo.md, "Record")`, `docs/events.md`.
POINTER = re.compile(r"\b(README(?:\.md)?|docs/[\w-]+\.md)(?:,?\s+(?:section\s+)?[\"'](.+?)[\"'])?")
CODE = [
    path
    for folder in ("orders", "voice", "numbermasking", "bench", "tests")
    for path in sorted((ROOT / folder).rglob("*.py"))
    if "migrations" not in path.parts and path.name != "test_docs.py"
] + [ROOT / "gunicorn.conf.py"]


def comments(path: Path) -> str:
    """A module's comments and docstrings: where code points at docs (its strings are URLs, SQL, XML)."""
    source = read(path)
    found = [
        token.string
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    ]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            found.append(ast.get_docstring(node) or "")
    return "\n".join(found)


# Files that are mostly comments, read whole.
CONFIG = [
    ROOT / name for name in (".env.example", "docker-compose.yml", "Makefile", "Dockerfile", "nginx.conf", "Procfile")
]


def test_every_docs_section_the_code_points_to_exists():
    wrong = []
    pointers = [(path, comments(path)) for path in CODE] + [(path, read(path)) for path in CONFIG if path.exists()]
    for path, text in pointers:
        for doc, section in POINTER.findall(text):
            target = ROOT / ("README.md" if doc.startswith("README") else doc)
            titles = [title.replace("`", "").lower() for _, title in headings(target)] if target.exists() else []
            if not target.exists() or (section and not any(t.startswith(section.lower()) for t in titles)):
                wrong.append(f"{path.relative_to(ROOT)}: {doc} {section!r}")
    assert wrong == []


def test_every_repository_path_the_code_comments_name_exists(files):
    wrong = []
    # The tests' own comments are left to whoever moves test modules around.
    for path in (path for path in CODE if path.parts[len(ROOT.parts)] != "tests"):
        for name in named_paths(comments(path)):
            if not path_exists(name, files):
                wrong.append(f"{path.relative_to(ROOT)}: {name}")
    assert wrong == []


def test_the_checks_catch_what_they_are_for(tmp_path, files):
    """The checks themselves: a missing file, a bad anchor, a stale module are caught; URLs and code are not."""
    doc = tmp_path / "page.md"
    doc.write_text(
        "# Page\n\nSee `orders/routing.py`, tests/test_nothing_here.py and `test_gone.py`, "
        "[events](../nowhere/events.md), [self](#no-such-heading), [up](#page), `voice.xml.PIN_ATTEMPTS`.\n"
        "Not paths: https://example.com/orders/x.py, `/voice/answer/`, `$API/orders/ORD-1/`, `manage.py`,\n"
        "`PUBLIC_BASE_URL`, `saleor/webhook/`, `orders.E006`.\n"
    )
    assert missing_paths(doc, files) == ["test_gone.py", "tests/test_nothing_here.py"]
    assert broken_links(doc) == ["#no-such-heading", "../nowhere/events.md"]
    assert unresolved("voice.xml.PIN_ATTEMPTS") and not unresolved("voice.plivo.xml.PIN_ATTEMPTS")
    assert unresolved("orders.models.Order.no_such_member") and not unresolved("orders.models.Order.is_line_live")
    assert slug("Call records and `synchronous_commit`") == "call-records-and-synchronous_commit"
    assert slug("(a) DialStatus and DialHangupCause, by case") == "a-dialstatus-and-dialhangupcause-by-case"
