"""The one training loop (pretraining, fine-tuning, distillation), its optimizer, checkpoints and DDP."""

from bertkit.train.loop import TrainConfig, Trainer, TrainingError, TrainResult

__all__ = ["TrainConfig", "TrainResult", "Trainer", "TrainingError"]
