"""Smaller students: task-specific (soft targets, TinyBERT layer-wise) and general (DistilBERT)
distillation on the one training loop.

See docs/distillation.md. `distill(DistillConfig(...))` or `bertkit distill --teacher RUN ...`;
`general_distill(GeneralDistillConfig(...))` or `bertkit distill general --teacher DIR --shards DIR ...`.
"""

from bertkit._modules import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["DistillResult", "distill"], "bertkit.distill.run"),
    **dict.fromkeys(["DistillConfig", "GeneralDistillConfig"], "bertkit.distill.config"),
    **dict.fromkeys(["GeneralDistiller", "general_distill"], "bertkit.distill.general"),
    **dict.fromkeys(["LayerwiseDistiller", "LayerwiseLoss", "layer_map", "uniform_layer_map"],
                    "bertkit.distill.layerwise"),
    "soft_targets": "bertkit.distill.targets",
    **dict.fromkeys(["Distiller", "TeacherLogitBatches", "soft_target_loss"], "bertkit.distill.objective"),
    **dict.fromkeys(["load_student", "make_student", "teacher_layers"], "bertkit.distill.student"),
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
