"""Smaller students of fine-tuned teachers: task-specific distillation on the one training loop.

See docs/distillation.md. `distill(DistillConfig(...))` or `bertkit distill --teacher RUN ...`.
"""

from bertkit._modules import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["DistillResult", "distill"], "bertkit.distill.run"),
    "DistillConfig": "bertkit.distill.config",
    **dict.fromkeys(["Distiller", "TeacherLogitBatches", "soft_target_loss"], "bertkit.distill.objective"),
    **dict.fromkeys(["make_student", "teacher_layers"], "bertkit.distill.student"),
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
