"""JSON Merge Patch (RFC 7396), the merge rule of the generic projection."""

from __future__ import annotations

from models.event import JSON


def merge_patch(target: JSON, patch: JSON) -> JSON:
    """``target`` with ``patch`` merged in, as RFC 7396 defines it.

    Neither input is mutated: unchanged members of ``target`` and the non-object values of
    ``patch`` are shared, not copied. States are never changed in place (see the Projection
    contract), so sharing is safe, and it keeps a million-event fold cheap.
    """
    if type(patch) is not dict:
        return patch
    result = dict(target) if type(target) is dict else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        elif type(value) is dict:
            result[name] = merge_patch(result.get(name), value)
        else:
            result[name] = value
    return result
