"""``.dwignore``: leave files out of an import, with gitignore syntax and semantics.

Only the ``.dwignore`` at the root of the imported folder is read; its patterns are
relative to that folder, exactly like a ``.gitignore`` there (``*.log``, ``build/``,
``/top-level-only``, ``**/tmp``, ``!keep.log``). As in Git, a file inside an ignored
folder cannot be re-included, because the folder is never entered. The ``.dwignore``
file itself is imported like any other file unless it ignores itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from dataworkflow.errors import InvalidInput
from dataworkflow.services.folder import IgnoreRule

IGNORE_FILE = ".dwignore"


def ignore_rule_from_lines(lines: Iterable[str]) -> IgnoreRule:
    """An ignore rule from gitignore-style pattern lines (comments and blanks allowed)."""
    import pathspec  # here: most imports have no .dwignore, and it costs ~20 ms to load

    spec = pathspec.GitIgnoreSpec.from_lines(lines)

    def ignored(relpath: str, is_dir: bool) -> bool:
        # A trailing slash is how gitignore patterns such as "build/" know a folder.
        return spec.match_file(relpath + "/" if is_dir else relpath)

    return ignored


def load_ignore_rule(folder: Path) -> IgnoreRule | None:
    """The rule of ``folder/.dwignore``, or None when the folder has no such file.

    Raises:
        InvalidInput: if the file cannot be read or is not UTF-8.
    """
    path = folder / IGNORE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise InvalidInput(f"{str(path)!r} is a folder, not an ignore file") from None
    except PermissionError:
        raise InvalidInput(f"permission denied reading {str(path)!r}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{str(path)!r} is not valid UTF-8") from None
    return ignore_rule_from_lines(text.splitlines())


def leaving_out(rule: IgnoreRule | None, folder: Path, paths: Iterable[Path]) -> IgnoreRule | None:
    """``rule``, also leaving out those of ``paths`` that lie inside ``folder``.

    An installation's own storage folder and SQLite database inside the folder it imports
    would be imported into themselves, growing with every import and read while being
    written; they are left out as Git leaves out ``.git``.

    Raises:
        InvalidInput: if ``folder`` is one of ``paths`` or lies inside one.
    """
    root = os.path.realpath(folder)
    inside: set[str] = set()
    for path in paths:
        real = os.path.realpath(path)
        if _within(root, real):
            raise InvalidInput(
                f"cannot import {str(folder)!r}: it is (or is inside) {real!r},"
                " where this installation keeps its own data"
            )
        if _within(real, root):
            inside.add(os.path.relpath(real, root).replace(os.sep, "/"))
    if not inside:
        return rule

    def ignored(relpath: str, is_dir: bool) -> bool:
        return relpath in inside or (rule is not None and rule(relpath, is_dir))

    return ignored


def _within(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or below it (both absolute and resolved)."""
    rel = os.path.relpath(path, folder)
    return rel == os.curdir or not (rel == os.pardir or rel.startswith(os.pardir + os.sep))
