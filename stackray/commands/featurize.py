"""`stackray featurize`: fill the on-disk feature cache for a data set and report zero-shot accuracy.

Run it once before a sweep: every trial then reads the cached array instead of running the LM.
The accuracy printed is that of column 0 (argmax of the mean log-prob over the valid options,
the game's round-0 prior), a quick check that the model and prompt format are sane.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("featurize", help="fill the on-disk feature cache for a data set", description=__doc__)
    p.add_argument("--data", required=True, help="data spec, e.g. mmlu:validation, arc_easy:test, or a .jsonl path")
    p.add_argument("--format", default="cloze", choices=("cloze", "letter"), help="prompt format (default cloze)")
    p.add_argument("--limit", type=int, default=None, help="score a seeded sample of this many items")
    p.add_argument("--subjects", default=None, help="comma-separated subjects to keep (MMLU)")
    p.add_argument("--seed", type=int, default=0, help="sample seed and random-projection seed (default 0)")
    p.add_argument("--shots", type=int, default=0, help="k-shot examples taken from --shots-data (default 0)")
    p.add_argument("--shots-data", default=None, help="data spec of the k-shot examples, e.g. mmlu:dev")
    p.add_argument("--backend", default="transformers", help="scorer backend (transformers or vllm)")
    p.add_argument("--model", default=None, help="hub id, folder or .gguf file (default: bundled SmolLM2-135M)")
    p.add_argument("--adapter", default=None, help="peft LoRA adapter folder")
    p.add_argument("--d-h", type=int, default=64, help="hidden-state projection width (0: full hidden size)")
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    p.add_argument("--batch-size", type=int, default=None, help="questions per forward pass")
    p.add_argument("--cache-dir", default=None, help="cache root (default $STACKRAY_CACHE or ~/.cache/stackray/features)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stackray.data import data_file_hash, gold_array, load_items
    from stackray.scoring import FeatureCache, load_scorer

    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be positive, got {args.limit}")
    subjects = [s.strip() for s in args.subjects.split(",") if s.strip()] if args.subjects else None
    items = load_items(args.data, subjects=subjects, limit=args.limit, seed=args.seed)
    if not items:
        raise ValueError(f"no items selected from {args.data!r} (subjects={subjects}, limit={args.limit})")
    shots = []
    if args.shots:
        if not args.shots_data:
            raise ValueError("--shots needs --shots-data (e.g. mmlu:dev)")
        shots = load_items(args.shots_data, limit=args.shots, seed=args.seed)
    scorer = load_scorer(args.backend, args.model, args.adapter, d_h=args.d_h or None, dtype=args.dtype, seed=args.seed)
    cache = FeatureCache(args.cache_dir)
    start = time.perf_counter()
    res = cache.get_or_compute(
        scorer,
        items,
        args.format,
        shots=shots,
        data_key=data_file_hash(args.data),
        batch_size=args.batch_size,
        progress=not args.no_progress,
    )
    seconds = time.perf_counter() - start
    gold = gold_array(items)
    valid = res.phi[..., -1] > 0
    pred = np.where(valid, res.phi[..., 0], -np.inf).argmax(axis=1)
    labelled = gold >= 0
    status = "cache hit" if res.hit else f"computed in {seconds:.1f} s, model load included"
    print(f"features {res.phi.shape} ({len(res.names)} columns) {status}")
    print(f"wrote {res.path}" if not res.hit else f"read {res.path}")
    if labelled.any():
        acc = float((pred[labelled] == gold[labelled]).mean())
        print(f"zero-shot accuracy (argmax mean_logprob): {acc:.4f} on {int(labelled.sum())} labelled items")
    return 0
