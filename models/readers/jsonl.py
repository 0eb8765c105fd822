"""JSON Lines: cut blocks of input into lines, without holding more than a block (plus one
partial line) in memory.

Each batch is the complete lines of one block (a line that started in earlier blocks is
joined first). A line longer than ``max_record_bytes`` is not kept: its bytes are dropped as
they arrive and the batch carries a placeholder with an issue, so a runaway line (a binary
file, a log without newlines) cannot exhaust memory.
"""

from __future__ import annotations

from collections.abc import Iterator

from models.readers.batch import Issue, RecordBatch, excerpt
from models.readers.numbers import big_integer_offsets, new_scratch


def too_large(size: int, limit: int) -> str:
    return (
        f"record of {size:,} bytes is larger than the limit of {limit:,} bytes; it is "
        "skipped (raise max_record_bytes to import it)"
    )


def line_batches(
    blocks: Iterator[bytes], *, offset: int, line: int, max_record_bytes: int
) -> Iterator[RecordBatch]:
    """Batches of complete lines; at the end, a last batch holding the unterminated tail.

    ``offset`` and ``line`` locate the first byte of the first block.
    """
    carry: list[bytes] = []
    carry_len = 0
    carry_dropped = False  # the partial line outgrew the limit: its bytes are gone
    carry_head = b""  # the first bytes of a dropped line, for the report
    pos = offset  # where the current partial line (and the next batch) starts
    ln = line
    scratch = new_scratch()
    for block in blocks:
        pieces = block.split(b"\n")
        tail = pieces.pop()
        if not pieces:  # no newline in this block: the line goes on
            carry_len += len(tail)
            if carry_dropped or carry_len > max_record_bytes:
                if not carry_dropped:
                    carry_head = b"".join(carry)[:200] if carry else tail[:200]
                carry_dropped = True
                carry = []
            else:
                carry.append(tail)
            continue
        lengths: dict[int, int] = {}
        rejected: dict[int, Issue] = {}
        has_cr = b"\r" in block
        if carry_len or carry_dropped:
            first_len = carry_len + len(pieces[0])
            if carry_dropped or first_len > max_record_bytes:
                head = carry_head if carry_dropped else b"".join(carry)[:200]
                rejected[0] = Issue(
                    ln, pos, too_large(first_len, max_record_bytes), excerpt=excerpt(head)
                )
                lengths[0] = first_len
                pieces[0] = b""
            else:
                carry.append(pieces[0])
                pieces[0] = b"".join(carry)
                has_cr = has_cr or b"\r" in pieces[0]  # a CR just before the block boundary
        if len(block) + carry_len > max_record_bytes:
            cursor = pos
            for i, piece in enumerate(pieces):
                size = lengths.get(i, len(piece))
                if i not in rejected and size > max_record_bytes:
                    rejected[i] = Issue(
                        ln + i, cursor, too_large(size, max_record_bytes), excerpt=excerpt(piece)
                    )
                    lengths[i] = size
                    pieces[i] = b""
                cursor += size + 1
        consumed = carry_len + len(block) - len(tail)
        block_start = pos + carry_len
        big = [block_start + at for at in big_integer_offsets(block, scratch)]
        if carry_len and 0 not in rejected:
            joined = [pos + at for at in big_integer_offsets(pieces[0])]
            big = sorted(set(big + joined)) if joined else big
        yield RecordBatch(
            records=pieces,
            base_offset=pos,
            base_line=ln,
            end_offset=pos + consumed,
            end_line=ln + len(pieces),
            rejected=rejected,
            lengths=lengths,
            has_cr=has_cr,
            big_ints=big,
        )
        pos += consumed
        ln += len(pieces)
        carry = [tail] if tail else []
        carry_len = len(tail)
        carry_dropped = False
        if carry_len > max_record_bytes:
            carry_head = tail[:200]
            carry_dropped = True
            carry = []
    if carry_dropped:
        issue = Issue(
            ln,
            pos,
            too_large(carry_len, max_record_bytes) + "; it is also the last line and has no "
            "newline at the end",
            excerpt=excerpt(carry_head),
        )
        yield RecordBatch(
            records=[b""],
            base_offset=pos,
            base_line=ln,
            end_offset=pos,
            end_line=ln,
            rejected={0: issue},
            lengths={0: carry_len},
            unterminated=True,
        )
    elif carry:
        tail = b"".join(carry)
        if tail.strip():
            yield RecordBatch(
                records=[tail],
                base_offset=pos,
                base_line=ln,
                end_offset=pos,
                end_line=ln,
                has_cr=b"\r" in tail,
                unterminated=True,
                big_ints=[pos + at for at in big_integer_offsets(tail)],
            )


TRUNCATED = (
    "truncated last line: the file ends without a newline inside a record that is not "
    "complete JSON; the log may still be being written (import it again later to pick the "
    "record up)"
)
