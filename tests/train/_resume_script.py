"""Run by test_loop.py in a subprocess that gets killed: train TinyMLM with checkpoints."""

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _tiny import TinyMLM, ToyData  # noqa: E402

from bertkit.train import TrainConfig, Trainer  # noqa: E402


class SlowData(ToyData):
    def __getitem__(self, i):
        time.sleep(0.004)  # slow enough that the test can kill it mid-run
        return super().__getitem__(i)


if __name__ == "__main__":
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = TrainConfig(lr=3e-3, max_steps=24, batch_size=8, grad_accum=2, save_every=3, log_every=2,
                      warmup_steps=4, schedule="cosine", resume=sys.argv[2] == "resume")
    Trainer(TinyMLM(), cfg, SlowData(n=40), sys.argv[1]).fit()
