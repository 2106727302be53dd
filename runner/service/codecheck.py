"""The compile check as the console's editor marks it: each problem at its line.

The service compiles code when it is saved (``Service.check_code`` runs the same check
without saving); its message names the file and, where the compiler knows it, the line:
``fn.py:3: syntax error: ...``, or RestrictedPython's ``fn.py: Line 3: ...; Line 5: ...``.
"""

from __future__ import annotations

import re
from typing import Any

_WHERE = re.compile(r"^[^:\n]*\.py:(\d+): ")
_RESTRICTED = re.compile(r"Line (\d+): (.*?)(?=; Line \d+: |$)", re.DOTALL)


def problems_of(message: str) -> list[dict[str, Any]]:
    """The problems of a compile error's ``message``, each with its line (None: the file)."""
    where = _WHERE.match(message)
    if where:
        return [{"line": int(where.group(1)), "message": message}]
    _, _, rest = message.partition(": ")
    found = [{"line": int(m.group(1)), "message": f"Line {m.group(1)}: {m.group(2)}"}
             for m in _RESTRICTED.finditer(rest)] if rest.startswith("Line ") else []
    return found or [{"line": None, "message": message}]
