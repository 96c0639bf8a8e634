"""The LDP package's shape: one module per concern, imports only one way (no cycle), the
shipped package free of operator tooling."""
from __future__ import annotations

import ast
from pathlib import Path

import k8saudit_ovh.ldp as ldp_pkg

PKG = Path(ldp_pkg.__file__).resolve().parent


def _local_imports(path: Path) -> set:
    """The sibling modules a module imports (relative imports inside ldp/)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                out.add(node.module.split(".")[0])
            else:
                out.update(a.name for a in node.names)
    return out


def _design_graph() -> dict:
    """DESIGN.md's list of what each LDP module imports."""
    import re
    design = (Path(__file__).resolve().parents[2] / "docs" / "DESIGN.md").read_text()
    block = design.split("<!-- ldp-imports:begin -->")[1].split("<!-- ldp-imports:end -->")[0]
    listed = {}
    for line in block.strip().strip("`").strip().splitlines():
        m = re.fullmatch(r"(\w+)\s+-> (.*)", line.strip())
        assert m, line
        listed[m.group(1)] = set() if m.group(2) == "(nothing)" else set(m.group(2).split(", "))
    return listed


def test_no_import_cycle_between_ldp_modules_and_design_lists_them():
    graph = {p.stem: _local_imports(p) for p in PKG.glob("*.py") if p.stem != "__init__"}
    assert len(graph) >= 10                      # the package really is split
    assert graph == _design_graph(), "docs/DESIGN.md's LDP import list is not the code's"
    state = {}

    def visit(m, path):
        if state.get(m) == "done":
            return
        assert state.get(m) != "open", f"import cycle: {' -> '.join(path + [m])}"
        state[m] = "open"
        for dep in graph.get(m, ()):
            visit(dep, path + [m])
        state[m] = "done"
    for m in graph:
        visit(m, [])


def test_modules_stay_small():
    for p in PKG.glob("*.py"):
        n = len(p.read_text().splitlines())
        assert n <= 300, f"{p.name} has {n} lines: split it by concern"


def test_the_shipped_package_has_no_cli_code():
    root = PKG.parent
    for p in root.rglob("*.py"):
        text = p.read_text()
        assert "k8saudit_ovh_cli" not in text and "def check(" not in text, p


def test_ldp_error_is_not_a_file_source_error():
    from k8saudit_ovh.errors import OpenError
    from k8saudit_ovh.filesource import SourceError
    assert issubclass(ldp_pkg.LdpError, OpenError) and not issubclass(ldp_pkg.LdpError, SourceError)
