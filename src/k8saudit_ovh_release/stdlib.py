"""Which standard-library modules the plugin needs: the import closure of what it ships.

Every ``import`` statement of the shipped Python files is followed into the standard library,
at any nesting level (imports inside functions and ``try`` blocks count: they run on error
paths too), and so on transitively. Names that resolve to nothing on this platform
(``_winapi``, ``nt``...) are platform guards and are skipped. Modules looked up by name at
run time, which no ``import`` statement shows (codecs), are added as ``ALWAYS``. ``NEVER`` are
interactive, development or GUI packages that a Falco plugin never runs; an import of them
is only ever reached through an optional path (``pydoc`` from ``help()``...).
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set, Tuple

# Looked up by name, not imported by a statement: codecs. The interpreter's start-up ones,
# "idna" (asyncio and ssl encode host names with it), and the Unicode and byte codecs a
# library may name; not the CJK and legacy code pages (over 1 MB of tables).
ALWAYS = ("encodings", "encodings.aliases", "encodings.utf_8", "encodings.utf_8_sig",
          "encodings.ascii", "encodings.latin_1", "encodings.idna", "encodings.punycode",
          "encodings.raw_unicode_escape", "encodings.unicode_escape", "encodings.utf_16",
          "encodings.utf_16_le", "encodings.utf_16_be", "encodings.utf_32", "encodings.charmap",
          "encodings.cp1252", "encodings.hex_codec", "encodings.base64_codec",
          "encodings.zlib_codec")

NEVER = frozenset({
    "tkinter", "turtle", "turtledemo", "idlelib", "test", "unittest", "doctest", "pdb", "pydoc",
    "pydoc_data", "lib2to3", "ensurepip", "venv", "distutils", "curses", "dbm", "sqlite3",
    "xmlrpc", "msilib", "_pyrepl", "ctypes", "multiprocessing", "concurrent.futures.process",
    "tomllib", "wsgiref", "http.server", "cgi", "cgitb", "pstats", "cProfile", "profile",
    "trace", "tabnanny", "pyclbr", "readline", "rlcompleter", "code", "codeop", "_osx_support",
    "_aix_support", "mailbox", "imaplib", "poplib", "nntplib", "smtplib", "ftplib", "telnetlib",
    "webbrowser", "ssl_test", "antigravity", "this", "__phello__", "xxlimited", "xxlimited_35",
    "_testcapi", "_testinternalcapi", "_testbuffer", "_testimportmultiple", "_testmultiphase",
    "_testclinic", "_xxtestfuzz", "_ctypes_test", "xxsubtype", "_tkinter", "_curses",
    "_curses_panel", "_sqlite3", "_dbm", "_gdbm", "nis", "_crypt", "crypt", "spwd", "ossaudiodev",
    "audioop", "_lsprof", "lzma", "_lzma", "bz2", "_bz2", "_uuid", "_ctypes", "_decimal",
    "decimal", "_pydecimal", "_multiprocessing", "_posixshmem", "xxsubinterpreters",
    "_xxsubinterpreters", "_xxinterpchannels",
    # reached only from random's self-test, and they need decimal
    "statistics", "fractions",
    # Windows only (imported under a platform check)
    "asyncio.windows_events", "asyncio.windows_utils", "encodings.mbcs", "encodings.oem",
    "nturl2path", "_winapi", "msvcrt", "winreg", "_overlapped",
})


class StdlibIndex:
    """Where each standard-library module of one CPython lives."""

    def __init__(self, stdlib: Path, dynload: Path, ext_suffix: str):
        self.stdlib = Path(stdlib)
        self.dynload = Path(dynload)
        self.ext_suffix = ext_suffix

    def find(self, name: str) -> Optional[Tuple[str, Path]]:
        """("source"|"package"|"extension", path) of a dotted module name, or None."""
        parts = name.split(".")
        base = self.stdlib.joinpath(*parts)
        if (base / "__init__.py").is_file():
            return "package", base / "__init__.py"
        if base.with_suffix(".py").is_file() and base.name != "site-packages":
            return "source", base.with_suffix(".py")
        if len(parts) == 1:
            ext = self.dynload / (name + self.ext_suffix)
            if ext.is_file():
                return "extension", ext
        return None


def _never(name: str) -> bool:
    parts = name.split(".")
    return any(".".join(parts[:i]) in NEVER for i in range(1, len(parts) + 1))


def imported_names(source: str, module: str, is_package: bool) -> Set[str]:
    """Absolute names of every module an import statement of ``source`` may load, including
    ``pkg.name`` for ``from pkg import name`` (name may be a submodule)."""
    tree = ast.parse(source)
    out: Set[str] = set()
    pkg = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = pkg.split(".") if pkg else []
                if node.level > 1:
                    base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if not base:
                continue
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names if a.name != "*")
    return out


def _parents(name: str) -> List[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def closure(index: StdlibIndex, seeds: Iterable[str]) -> Dict[str, Tuple[str, Path]]:
    """Every standard-library module reachable from ``seeds`` (dotted names), with its kind
    and file. Builtin modules (inside libpython) and unresolvable names are left out."""
    found: Dict[str, Tuple[str, Path]] = {}
    todo = list(seeds)
    while todo:
        name = todo.pop()
        if name in found or _never(name) or name in sys.builtin_module_names:
            continue
        hit = index.find(name)
        if hit is None:
            continue
        found[name] = hit
        todo.extend(_parents(name))
        kind, path = hit
        if kind == "extension":
            continue
        names = imported_names(path.read_text(encoding="utf-8"), name, kind == "package")
        todo.extend(names)
    return found


def seeds_of_files(files: Iterable[Tuple[Path, str]]) -> Set[str]:
    """The imported names of the shipped .py files ((path, path relative to site-packages))."""
    out: Set[str] = set(ALWAYS)
    for path, rel in files:
        if not rel.endswith(".py"):
            continue
        parts = rel[:-3].split("/")
        is_pkg = parts[-1] == "__init__"
        module = ".".join(parts[:-1] if is_pkg else parts)
        out |= imported_names(path.read_text(encoding="utf-8"), module, is_pkg)
    return out
