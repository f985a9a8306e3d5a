"""Deployment formats of a fine-tuned classifier: PyTorch fp32 (the reference), PyTorch int8 dynamic
quantisation, ONNX fp32 and ONNX int8 (onnxruntime) — accuracy on the movie-review dev set, file
size, and throughput on BERT-base-sized batches (32 x 128 tokens, no padding).

Targets (issue 14): int8 >= 1.5x faster than fp32 bertkit, <= 1 point accuracy loss, file <= 0.3x.
The variants run interleaved (fp32, int8, onnx, onnx-int8, fp32, ...), median of --repeats, on
--threads threads each. `--run RUN` is a fine-tuned classification RUN (e.g. the teacher that
benchmarks/bench_distill.py trains); without it all-MiniLM-L6-v2 is fine-tuned for one short epoch.
Prints ONE JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _fine_tuned(work: Path) -> Path:
    from bertkit.datasets import labelled
    from bertkit.tasks.demo import minilm_dir
    from bertkit.tasks.finetune import FinetuneConfig, finetune
    from bertkit.train.config import TrainConfig

    labelled._write_csv(work / "train.csv", labelled.movie_reviews("train")[:2000], ["text", "label"])
    train = TrainConfig(lr=5e-5, warmup_ratio=0.1, epochs=1, batch_size=32)
    finetune(FinetuneConfig(model=str(minilm_dir()), out=str(work / "run"),
                            train_file=str(work / "train.csv"),
                            max_length=64, train=train))
    return work / "run"


def main() -> None:
    import torch

    from bertkit.datasets import labelled
    from bertkit.deploy.export import OnnxClassifier, export_onnx, quantize_int8
    from bertkit.tasks.evaluate import evaluate
    from bertkit.tasks.predict import FineTuned
    from bertkit.tasks.readers import Example

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=None, help="a fine-tuned classification RUN")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    work = Path(tempfile.mkdtemp(prefix="bench_deploy_"))
    run = Path(args.run) if args.run else _fine_tuned(work)
    ft = FineTuned.load(run)
    exported = export_onnx(run, work / "onnx", int8=True)
    models = {"torch_fp32": ft.model, "torch_int8": quantize_int8(ft.model),
              "onnx_fp32": OnnxClassifier(exported.files["fp32"], args.threads),
              "onnx_int8": OnnxClassifier(exported.files["int8"], args.threads)}
    dev = [Example(r["text"], None, r["label"], source=f"dev:{i}")
           for i, r in enumerate(labelled.movie_reviews("dev"))]
    accuracy = {name: evaluate(m, ft.tokenizer, ft.spec, dev, 64)["accuracy"] for name, m in models.items()}
    ids = torch.randint(1000, ft.model.config.vocab_size, (args.batch, args.seq))
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids),
              "token_type_ids": torch.zeros_like(ids)}
    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.no_grad():
        for m in models.values():               # warm-up (packs the fp32 inference kernels)
            m(**inputs)
        for _ in range(args.repeats):
            for name, m in models.items():
                start = time.perf_counter()
                m(**inputs)
                times[name].append(time.perf_counter() - start)
    rate = {name: args.batch / statistics.median(t) for name, t in times.items()}
    torch_size = (run / "model.safetensors").stat().st_size
    int8_path = work / "int8.pt"
    torch.save(models["torch_int8"].state_dict(), int8_path)
    print(json.dumps({
        "benchmark": "deploy", "run": str(run), "dev": len(dev), "batch": [args.batch, args.seq],
        "threads": args.threads, "accuracy": accuracy,
        "accuracy_drop_points": {k: round(100 * (accuracy["torch_fp32"] - v), 2)
                                 for k, v in accuracy.items()},
        "sequences_per_s": {k: round(v, 2) for k, v in rate.items()},
        "speedup_vs_torch_fp32": {k: round(v / rate["torch_fp32"], 2) for k, v in rate.items()},
        "fp32_kernels": ft.model.inference_kernels,
        "bytes": {"torch_fp32": torch_size, "torch_int8": int8_path.stat().st_size, **{
            f"onnx_{k}": v for k, v in exported.sizes.items()}},
        "onnx_max_abs_diff": exported.max_abs_diff, "load_avg": os.getloadavg()}))


if __name__ == "__main__":
    main()
