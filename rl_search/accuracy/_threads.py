"""Thread count for small torch models.

The oracles' models are tiny (the digits CNN has 40 k weights); on a loaded 2-core machine
torch's intra-op threads spin against each other and one step can take 40x longer than on one
thread (measured: 0.3 s vs 7 ms per training step of the digits CNN). The oracles and the task
trainer therefore run under :func:`torch_threads` with a small, settable count.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` intra-op threads (``None``: leave torch's setting)."""
    if count is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
