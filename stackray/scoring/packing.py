"""Tree packing: one row per question holding its prompt once and every option after it.

A row ``prompt + c_1 + ... + c_K`` behaves like K separate sequences ``prompt + c_k`` that share a
prefix: a 4-D attention mask lets prompt tokens attend causally to the prompt and option k's tokens
attend to the whole prompt and causally to option k's own earlier tokens, never to another option;
position ids restart at the prompt's length for every option. The scorer (stackray.scoring.hf_backend)
and the LoRA trainer (stackray.train) both score options this way, so the prompt's forward work is
done once instead of K times, with or without gradients, and both read the same log-likelihoods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

TokenizedSplit = tuple[list[int], list[list[int]]]


@dataclass
class PackedBatch:
    """Tensors of one packed batch (CPU), and where each option's tokens are.

    ids/pos [rows, width]; mask [rows, 1, width, width] additive (0 allowed, dtype-min blocked);
    pred_row/pred_at: the position whose next-token distribution predicts each option token (in
    order), targets: that token; pool_row/pool_at: the option token's own position; pair_of: which
    (row, option) pair, numbered row-major, each token belongs to; lens: tokens per pair.
    """

    ids: Any
    mask: Any
    pos: Any
    pred_row: Any
    pred_at: Any
    targets: Any
    pool_row: Any
    pool_at: Any
    pair_of: Any
    lens: Any
    n_pairs: int

    def to(self, device: str) -> "PackedBatch":
        return PackedBatch(*(getattr(self, f).to(device) for f in _TENSORS), n_pairs=self.n_pairs)


_TENSORS = ("ids", "mask", "pos", "pred_row", "pred_at", "targets", "pool_row", "pool_at", "pair_of", "lens")


def pack_tree(batch: Sequence[TokenizedSplit], pad: int, dtype) -> PackedBatch:
    """Pack (prompt ids, [option ids]) per question into rows with the tree mask (see the module docstring)."""
    import torch

    rows = [p + [t for c in cs for t in c] for p, cs in batch]
    n_rows, width = len(rows), max(len(r) for r in rows)
    ids = torch.full((n_rows, width), pad, dtype=torch.long)
    seg = torch.full((n_rows, width), -1, dtype=torch.long)  # -1 pad, 0 prompt, k+1 option k
    pos = torch.zeros((n_rows, width), dtype=torch.long)
    pred_row, pred_at, targets, pool_row, pool_at, pair_of = [], [], [], [], [], []
    n_pairs = 0
    for r, (p, cs) in enumerate(batch):
        plen = len(p)
        ids[r, : len(rows[r])] = torch.tensor(rows[r])
        seg[r, :plen] = 0
        pos[r, :plen] = torch.arange(plen)
        at = plen
        for k, c in enumerate(cs):
            m = len(c)
            seg[r, at : at + m] = k + 1
            pos[r, at : at + m] = torch.arange(plen, plen + m)
            pred_at += [plen - 1] + list(range(at, at + m - 1))
            pool_at += list(range(at, at + m))
            pred_row += [r] * m
            pool_row += [r] * m
            targets += c
            pair_of += [n_pairs] * m
            at += m
            n_pairs += 1
    real = seg >= 0
    causal = torch.ones(width, width, dtype=torch.bool).tril()
    allow = causal[None] & ((seg[:, :, None] == seg[:, None, :]) | (seg == 0)[:, None, :])
    allow &= real[:, :, None] & real[:, None, :]
    allow |= torch.eye(width, dtype=torch.bool)[None] & ~real[:, :, None]  # pad rows: no all-masked row (NaN)
    mask = torch.zeros((n_rows, 1, width, width), dtype=dtype)
    mask.masked_fill_(~allow[:, None], torch.finfo(dtype).min)
    lens = torch.tensor([len(c) for _, cs in batch for c in cs])
    t = torch.tensor
    return PackedBatch(ids, mask, pos, t(pred_row), t(pred_at), t(targets), t(pool_row), t(pool_at), t(pair_of),
                       lens, n_pairs)


def option_logprobs(model, packed: PackedBatch, logprobs) -> tuple[Any, Any]:
    """(summed log-prob per pair float64 [n_pairs], final hidden states [rows, width, H]) of a packed batch.

    `model` is a causal LM whose `base_model` is the decoder stack without the LM head (so the head
    runs only on the option positions); `logprobs(hidden_rows, targets)` gives log p(target | hidden).
    Gradients flow when the caller has them on.
    """
    import torch

    base = model.base_model
    hid = base(input_ids=packed.ids, attention_mask=packed.mask, position_ids=packed.pos,
               use_cache=False).last_hidden_state
    tok_lp = logprobs(hid[packed.pred_row, packed.pred_at], packed.targets)
    lp = torch.zeros(packed.n_pairs, dtype=torch.float64, device=hid.device).index_add_(0, packed.pair_of,
                                                                                           tok_lp.double())
    return lp, hid
