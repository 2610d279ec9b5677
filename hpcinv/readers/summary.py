"""What ``hpcinv data`` prints: a JSON-ready summary of a file as read."""

from __future__ import annotations

from hpcinv.readers.fielddata import FieldData
from hpcinv.readers.geometric import resistance_conversion
from hpcinv.readers.uncertainty import uncertainty_statistics


def summarize(data: FieldData) -> dict:
    """Format, dimension, counts, data type, uncertainty statistics (None when the file has
    none), dropped rows, origin and notes; plain Python types only (``json.dumps`` works)."""
    survey = data.survey
    uncertainty = (
        None
        if survey.uncertainty is None
        else uncertainty_statistics(survey.dobs, survey.uncertainty)
    )
    return {
        "path": data.path,
        "format": data.format,
        "dimension": "3D" if survey.dim == 3 else "2D line",
        "n_electrodes": int(survey.electrodes.shape[0]),
        "n_sources": int(survey.n_sources),
        "n_data": int(survey.n_data),
        "data_type": data.data_type,
        "data_min": float(survey.dobs.min()),
        "data_max": float(survey.dobs.max()),
        "uncertainty": uncertainty,
        "to_resistance": resistance_conversion(data),
        "dropped": [{"line": row.line, "reason": row.reason} for row in data.dropped],
        "origin": data.origin.tolist(),
        "extent": {
            "min": survey.electrodes.min(axis=0).tolist(),
            "max": survey.electrodes.max(axis=0).tolist(),
        },
        "notes": list(data.notes),
    }
