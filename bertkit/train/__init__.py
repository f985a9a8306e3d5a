"""The one training loop (pretraining, fine-tuning, distillation), its optimizer, checkpoints and DDP."""

from bertkit._modules import lazy_exports

_EXPORTS = {**dict.fromkeys(["TrainConfig", "TrainResult", "Trainer"], "bertkit.train.loop"),
            "TrainingError": "bertkit.errors"}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
