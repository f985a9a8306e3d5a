"""bertkit vs transformers BertModel (attn_implementation="sdpa"): BERT-base inference on CPU.

Same random weights on both sides (bertkit saves, transformers loads), 2 threads, fp32,
inference_mode. The two sides are interleaved repeat by repeat so that machine load hits both
alike. Cases:
  padded   32 sequences, lengths uniform in 16..128, padded to 128 (tokens/s over real tokens)
  full     8 x 128, no padding
  latency  1 x 32
Peak memory: each side runs the padded case in a fresh subprocess; the figure is the growth of
the peak RSS (VmHWM, reset through /proc/self/clear_refs after loading) over the RSS before.
MFU: model FLOPs (real tokens only, linear layers plus attention) per second over the best
measured fp32 GEMM rate of this machine (torch.mm, and oneDNN's packed linear when available).
bertkit runs with its default inference kernels ("auto"); `kernels` in the output says which ran
(`BERTKIT_ONEDNN=0|1` to compare).

Prints ONE JSON line.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bertkit.model import BertConfig, BertModel  # noqa: E402

THREADS = 2


def make_models(directory: Path):
    import transformers

    torch.manual_seed(0)
    ours = BertModel(BertConfig.preset("base")).eval()
    ours.save_pretrained(directory)
    theirs = transformers.AutoModel.from_pretrained(directory, attn_implementation="sdpa").eval()
    return ours, theirs


def batches():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(16, 129, (32,), generator=g)
    ids = torch.randint(1000, 30000, (32, 128), generator=g)
    mask = (torch.arange(128)[None, :] < lengths[:, None]).long()
    return {
        "padded": (ids * mask, mask),
        "full": (torch.randint(1000, 30000, (8, 128), generator=g), torch.ones(8, 128, dtype=torch.long)),
        "latency": (torch.randint(1000, 30000, (1, 32), generator=g), torch.ones(1, 32, dtype=torch.long)),
    }


def model_flops(config: BertConfig, mask: torch.Tensor) -> float:
    """Forward FLOPs on the real tokens: 2 * params of the GEMMs per token, plus QKᵀ and PV."""
    h, i, n = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    lengths = mask.sum(1).double()
    per_token = n * 2 * (4 * h * h + 2 * h * i)
    attention = n * 2 * 2 * h * (lengths ** 2).sum().item()
    return per_token * lengths.sum().item() + attention + 2 * h * h * mask.shape[0]   # + pooler


def gemm_peak() -> dict:
    x, w, b = torch.randn(1024, 768), torch.randn(3072, 768), torch.randn(3072)
    flops = 2 * 1024 * 768 * 3072

    def best(fn, n=10):
        fn()
        return min(_timed(fn) for _ in range(n))

    peaks = {"torch_mm": flops / best(lambda: torch.mm(x, w.t())) / 1e9}
    try:
        packed = torch.ops.mkldnn._reorder_linear_weight(w, 1024)
        y = torch.ops.mkldnn._linear_pointwise(x, packed, b, "none", [], "")
        assert (y - F.linear(x, w, b)).abs().max().item() < 1e-3
        peaks["onednn_linear"] = flops / best(lambda: torch.ops.mkldnn._linear_pointwise(x, packed, b, "none",
                                                                                       [], "")) / 1e9
    except (RuntimeError, AttributeError, AssertionError):
        pass
    return {k: round(v, 1) for k, v in peaks.items()}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_ours(model, ids, mask):
    return model(ids, attention_mask=mask).last_hidden_state


def run_hf(model, ids, mask):
    return model(input_ids=ids, attention_mask=mask).last_hidden_state


def memory_child(side: str, directory: str) -> None:
    """Subprocess body: peak RSS growth (MiB) while running the padded case twice."""
    torch.set_num_threads(THREADS)
    if side == "bertkit":
        model = BertModel.from_pretrained(directory).eval()
        fn = run_ours
    else:
        import transformers

        model = transformers.AutoModel.from_pretrained(directory, attn_implementation="sdpa").eval()
        fn = run_hf
    ids, mask = batches()["padded"]
    with torch.inference_mode():
        fn(model, ids[:1, :16], mask[:1, :16])
        Path("/proc/self/clear_refs").write_text("5")          # reset the peak (VmHWM) to now
        before = _status_kib("VmRSS")
        for _ in range(2):
            fn(model, ids, mask)
        after = _status_kib("VmHWM")
    print(json.dumps({"peak_mib": round((after - before) / 1024, 1)}))


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_memory(directory: Path) -> dict:
    out = {}
    for side in ("hf", "bertkit"):
        proc = subprocess.run([sys.executable, __file__, "--memory", side, str(directory)],
                              capture_output=True, text=True, check=True)
        out[side] = json.loads(proc.stdout.strip().splitlines()[-1])["peak_mib"]
    return out


def main() -> None:
    torch.set_num_threads(THREADS)
    repeats = {"padded": 5, "full": 5, "latency": 20}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "base"
        ours, theirs = make_models(directory)
        result: dict = {"bench": "inference", "model": "bert-base (random weights)", "threads": THREADS,
                        "dtype": "fp32", "kernels": ours.inference_kernels}
        peaks = [gemm_peak()]
        with torch.inference_mode():
            for case, (ids, mask) in batches().items():
                peaks.append(gemm_peak())   # measured between cases too: keep the best (least loaded)
                peak = max(max(p.values()) for p in peaks)
                a, b = run_ours(ours, ids, mask), run_hf(theirs, ids, mask)   # warm-up + equality
                real = mask.bool()
                diff = (a[real] - b[real]).abs().max().item()
                t_ours, t_hf = [], []
                for _ in range(repeats[case]):
                    t_hf.append(_timed(lambda: run_hf(theirs, ids, mask)))       # noqa: B023
                    t_ours.append(_timed(lambda: run_ours(ours, ids, mask)))     # noqa: B023
                tokens = int(mask.sum())
                flops = model_flops(ours.config, mask)
                med_o, med_h = statistics.median(t_ours), statistics.median(t_hf)
                result[case] = {
                    "batch": list(ids.shape), "real_tokens": tokens, "max_abs_diff": diff,
                    "bertkit_s": {"median": round(med_o, 4), "min": round(min(t_ours), 4)},
                    "hf_s": {"median": round(med_h, 4), "min": round(min(t_hf), 4)},
                    "bertkit_tokens_per_s": round(tokens / med_o, 1),
                    "hf_tokens_per_s": round(tokens / med_h, 1),
                    "speedup_median": round(med_h / med_o, 3),
                    "speedup_min": round(min(t_hf) / min(t_ours), 3),
                    # each repeat's two runs are back to back: their ratio shrugs off slow load drifts
                    "speedup_paired_median": round(statistics.median(h / o for h, o in zip(t_hf, t_ours,
                                                                                           strict=True)), 3),
                    "bertkit_gflops": round(flops / min(t_ours) / 1e9, 1),
                    "hf_gflops_useful": round(flops / min(t_hf) / 1e9, 1),
                    "bertkit_mfu": round(flops / min(t_ours) / 1e9 / peak, 3),
                    "hf_mfu": round(flops / min(t_hf) / 1e9 / peak, 3),
                }
        result["gemm_peak_gflops"] = {k: max(p.get(k, 0.0) for p in peaks) for k in peaks[0]}
        result["peak_rss_growth_mib"] = peak_memory(directory)
    print(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--memory":
        memory_child(sys.argv[2], sys.argv[3])
    else:
        main()
