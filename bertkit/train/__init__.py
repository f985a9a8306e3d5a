"""The one training loop (any model, any objective), its batch sources, optimizer, checkpoints and DDP."""

from bertkit._modules import lazy_exports

_EXPORTS = {**dict.fromkeys(["TrainResult", "Trainer"], "bertkit.train.loop"),
            **dict.fromkeys(["PretrainConfig", "TrainConfig"], "bertkit.train.config"),
            **dict.fromkeys(["BatchSource", "DatasetBatches"], "bertkit.train.batches"),
            "TrainingError": "bertkit.errors"}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
