"""Which branch names aod accepts for a session (pure; no git, no I/O).

Shared by the config check (a `defaults.branch` template must render to a valid name) and the
workspace plugins, which confirm a name with the repository's own git before they use it.
"""

from __future__ import annotations

import unicodedata

# aod's own limit on a branch name, in UTF-8 bytes. git has none, but the file system does (a
# loose ref is a file; its last component plus ".lock" must fit in 255 bytes), and a forge or a
# terminal title does not want a novel either.
MAX_BRANCH_NAME_BYTES = 200

# Characters git forbids anywhere in a ref name (plus the space, which it forbids too).
_FORBIDDEN_CHARACTERS = frozenset(" ~^:?*[\\")


def valid_branch_name(name: str) -> bool:
    """Whether `name` is acceptable as a session branch.

    Follows `git check-ref-format --branch` (applied to `refs/heads/<name>`): no empty
    component, no component starting with `.` or ending with `.lock`, no `..`, no `@{`, not
    `@` or `HEAD`, no trailing `.` or `/`, no ASCII control character, space, `~ ^ : ? * [ \\`.
    Stricter than git where a name would be a trap: no leading `-` (it reads as an option), no
    Unicode control, format (bidi overrides, zero-width) or other space characters, at most
    MAX_BRANCH_NAME_BYTES bytes of UTF-8.
    """
    if not isinstance(name, str) or not name:
        return False
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return False
    if len(encoded) > MAX_BRANCH_NAME_BYTES:
        return False
    if name.startswith("-") or name in ("@", "HEAD"):
        return False
    if ".." in name or "@{" in name:
        return False
    if name.endswith((".", "/")) or name.startswith("/"):
        return False
    for char in name:
        if char in _FORBIDDEN_CHARACTERS or char.isspace():
            return False
        if ord(char) < 0x20 or ord(char) == 0x7F:
            return False
        if ord(char) > 0x7F and unicodedata.category(char).startswith(("C", "Z")):
            return False
    for component in name.split("/"):
        if not component or component.startswith(".") or component.endswith(".lock"):
            return False
    return True
