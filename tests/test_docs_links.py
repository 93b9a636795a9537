"""The documents point at code and tests that exist, so the hazard log and the security mapping cannot rot.

Every `tests/....py::test_name` reference in docs/*.md must name a file and a test function defined in it (a
parametrised id such as `test_x[case]` is checked by its function name). Every `service_finder/....py: Name` or
`service_finder/....py: Class.method` reference must name something defined in that module. Relative Markdown links
must lead to files in the repository.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = sorted((REPO / "docs").glob("*.md"))
# `tests/api/test_editor.py::test_two_editors[sqlite]`: the function name stops before any parameter id.
TEST_REF = re.compile(r"\b(tests/[\w/]+\.py)::(\w+)")
# `service_finder/catalogue.py: Catalogue.refresh`, as the hazard log names a control.
CODE_REF = re.compile(r"\b(service_finder/[\w/]+\.py): ([A-Za-z_][\w.]*)")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _references(pattern: re.Pattern[str]) -> list[tuple[str, str, str]]:
    # Each distinct reference once per document, in order: a test cited under two hazards is checked once.
    found = {
        (doc.name, match.group(1), match.group(2)): None
        for doc in DOCS
        for match in pattern.finditer(doc.read_text(encoding="utf-8"))
    }
    return list(found)


@cache
def _defined(path: Path) -> frozenset[str]:
    """Module-level names and `Class.member` names (methods, nested functions at class level, class attributes)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.add(node.name)
            for member in node.body:
                if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(f"{node.name}.{member.name}")
                elif isinstance(member, ast.AnnAssign) and isinstance(member.target, ast.Name):
                    names.add(f"{node.name}.{member.target.id}")
                elif isinstance(member, ast.Assign):
                    names.update(f"{node.name}.{t.id}" for t in member.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return frozenset(names)


def _test_functions(path: Path) -> frozenset[str]:
    # Test methods of test classes are named `Class.test_x` by _defined; pytest's node id uses `Class::test_x`.
    return frozenset(name.rsplit(".", 1)[-1] for name in _defined(path) if name.rsplit(".", 1)[-1].startswith("test_"))


TEST_REFERENCES = _references(TEST_REF)
CODE_REFERENCES = _references(CODE_REF)


def test_the_safety_and_security_documents_cite_tests() -> None:
    # Without this, deleting every reference would make the checks below pass vacuously.
    cited = {doc for doc, _, _ in TEST_REFERENCES}
    assert {"clinical-safety.md", "security.md"} <= cited, f"documents citing tests: {sorted(cited)}"


@pytest.mark.parametrize(("doc", "path", "name"), TEST_REFERENCES, ids=[f"{d}:{p}::{n}" for d, p, n in TEST_REFERENCES])
def test_every_cited_test_exists(doc: str, path: str, name: str) -> None:
    file = REPO / path
    assert file.is_file(), f"docs/{doc} cites {path}::{name}, but {path} does not exist"
    assert name in _test_functions(file), f"docs/{doc} cites {path}::{name}, but {path} defines no test {name!r}"


def test_no_test_is_cited_without_its_file() -> None:
    # A shorthand `::test_x` (the file understood from the line before) escapes the check above and can rot.
    shorthand = [
        f"docs/{doc.name}: {match.group(0)}"
        for doc in DOCS
        for match in re.finditer(r"(?<![\w/.])::test_\w+", doc.read_text(encoding="utf-8"))
    ]
    assert shorthand == []


@pytest.mark.parametrize(("doc", "path", "name"), CODE_REFERENCES, ids=[f"{d}:{p}:{n}" for d, p, n in CODE_REFERENCES])
def test_every_cited_control_exists(doc: str, path: str, name: str) -> None:
    file = REPO / path
    assert file.is_file(), f"docs/{doc} names {path}: {name}, but {path} does not exist"
    assert name in _defined(file), f"docs/{doc} names {path}: {name}, but {path} defines no {name!r}"


LINKS = list(
    {
        (doc.name, target): None
        for doc in DOCS
        for target in LINK.findall(doc.read_text(encoding="utf-8"))
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target)  # http:, mailto:, ... are not files here
    }
)


@pytest.mark.parametrize(("doc", "target"), LINKS, ids=[f"{d}->{t}" for d, t in LINKS])
def test_every_relative_link_leads_to_a_file(doc: str, target: str) -> None:
    assert (REPO / "docs" / target).resolve().exists(), f"docs/{doc} links to {target!r}, which does not exist"
