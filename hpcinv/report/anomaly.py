"""How well an image outlines the true model's bodies: the measure an interpreter applies by
eye, made a number.

Core MAE averages over every core cell, most of them background the data barely see; a
smooth blob and an image that follows a dipping slab can score alike. An interpreter
instead thresholds the image to outline the body. So, per kind of body (conductive: the
true model more than ``DELTA`` ln units above the core's background, the median of the true
model there; resistive: below it), the image's cells beyond the midpoint (in ln S/m) between
the background and the bodies' median value are "recovered", and

* ``iou``: |recovered and true| / |recovered or true| (Jaccard): 1 for the exact outline,
  lowered both by body cells missed and by cells wrongly beyond the threshold;
* ``recovered``: the share of the true body's cells recovered;
* ``false``: the share of the recovered cells that lie outside the true body.
"""

from __future__ import annotations

import numpy as np

#: ln units from the background beyond which a true cell is part of a body
DELTA = 0.5


def anomaly_measure(model, true_model, core_mask) -> dict | None:
    """{"conductive": {...}, "resistive": {...}} (only the kinds the true model has); None
    without a true model."""
    if true_model is None:
        return None
    true = np.asarray(true_model, float)
    core = np.ones(true.size, bool) if core_mask is None else np.asarray(core_mask, bool)
    true, image = true[core], np.asarray(model, float)[core]
    background = float(np.median(true))
    out = {}
    for kind, sign in (("conductive", 1.0), ("resistive", -1.0)):
        body = sign * (true - background) > DELTA
        if not body.any():
            continue
        threshold = background + 0.5 * (float(np.median(true[body])) - background)
        recovered = sign * (image - threshold) > 0
        both = int((body & recovered).sum())
        either = int((body | recovered).sum())
        n_recovered = int(recovered.sum())
        out[kind] = {
            "iou": both / either,
            "recovered": both / int(body.sum()),
            "false": (n_recovered - both) / n_recovered if n_recovered else 0.0,
            "threshold": threshold,
        }
    return out
