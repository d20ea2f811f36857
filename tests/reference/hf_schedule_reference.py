#!/usr/bin/env python3
"""Reference for clft's learning-rate schedules: the LR that transformers' get_scheduler gives a
torch optimizer at every update, for a few schedules, warmups and floors. Writes JSON that
tests/optim/test_schedule.c compares clft_lr_at with (CI needs no PyPI).

    ~/.cache/clft/ref-venv/bin/python tests/reference/hf_schedule_reference.py tests/optim/lr_reference.json
"""
import json
import sys

import torch
import transformers
from transformers import get_scheduler

CASES = [
    ("constant", 1e-3, 0.0, 0, 10), ("constant", 2e-4, 0.0, 4, 12),
    ("linear", 1e-3, 0.0, 0, 10), ("linear", 5e-4, 0.0, 3, 17), ("linear", 1e-3, 0.0, 10, 10),
    ("cosine", 1e-3, 0.0, 0, 10), ("cosine", 3e-4, 0.0, 5, 23), ("cosine", 1e-3, 1e-4, 2, 15),
    ("cosine", 2e-4, 2e-5, 0, 1),
]


def lrs(kind, lr, min_lr, warmup, total):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    if kind == "cosine" and min_lr > 0:
        sch = get_scheduler("cosine_with_min_lr", opt, num_warmup_steps=warmup, num_training_steps=total,
                            scheduler_specific_kwargs={"min_lr": min_lr})
    elif kind == "constant":
        sch = get_scheduler("constant_with_warmup" if warmup else "constant", opt, num_warmup_steps=warmup,
                            num_training_steps=total)
    else:
        sch = get_scheduler(kind, opt, num_warmup_steps=warmup, num_training_steps=total)
    out = []
    for _ in range(total + 3):  # a few past the end too
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sch.step()
    return out


def main(path):
    res = {"transformers": transformers.__version__, "torch": torch.__version__, "cases": []}
    for kind, lr, min_lr, warmup, total in CASES:
        res["cases"].append(dict(type=kind, lr=lr, min_lr=min_lr, warmup=warmup, total=total,
                                 lrs=lrs(kind, lr, min_lr, warmup, total)))
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    print(f"{path}: {len(res['cases'])} schedules")


if __name__ == "__main__":
    main(sys.argv[1])
