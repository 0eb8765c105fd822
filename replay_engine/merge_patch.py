"""JSON Merge Patch (RFC 7396), the merge rule of the generic projection."""

from __future__ import annotations

from typing import Any

from models.event import JSON


def merge_patch(target: JSON, patch: JSON) -> JSON:
    """``target`` with ``patch`` merged in, as RFC 7396 defines it.

    Neither input is mutated: unchanged members of ``target`` and the non-object values of
    ``patch`` are shared, not copied. States are never changed in place (see the Projection
    contract), so sharing is safe, and it keeps a million-event fold cheap.
    """
    if type(patch) is not dict:
        return patch
    result = {**target, **patch} if type(target) is dict else {**patch}
    for value in patch.values():  # the common case: flat values only, done in C above
        if value is None or type(value) is dict:
            break
    else:
        return result
    for name, value in patch.items():
        if value is None:
            del result[name]
        elif type(value) is dict:
            result[name] = merge_patch(target.get(name) if type(target) is dict else None, value)
    return result


def merge_patch_into(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """:func:`merge_patch` of an object into an object, updating ``target`` in place.

    Only for a fold's private working copy (see ``GenericProjection.fold_events``): nested
    objects are still merged without mutation, so only ``target`` itself changes.
    """
    for value in patch.values():
        if value is None or type(value) is dict:
            break
    else:
        target.update(patch)
        return
    for name, value in patch.items():
        if value is None:
            target.pop(name, None)
        elif type(value) is dict:
            target[name] = merge_patch(target.get(name), value)
        else:
            target[name] = value
