"""The features output every image classifier gives with `return_features=True` (BUILD.md, model conventions)."""


def classifier_output(logits, pre_logits, stages, return_features: bool, **extra):
  """`logits`, or with `return_features` the dict {'logits', 'pre_logits' (B, D), 'stages' (a tuple of NHWC
  maps, one per stage)} and any `extra` entries (VGG's named activations)."""
  if not return_features:
    return logits
  return {"logits": logits, "pre_logits": pre_logits, "stages": tuple(stages), **extra}
