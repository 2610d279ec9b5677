"""Field-data readers and writers: UBC-GIF DCIP2D/DCIP3D, pyGIMLi unified data, CSV (read
and written); R2/R3t protocol.dat (with a companion electrodes.csv), Res2DInv general array,
IRIS Syscal Pro and ABEM Terrameter LS/SAS text exports (read); topography and polyline
tables.

``read_survey`` returns a ``FieldData``: the ``Survey`` (local coordinates, values in the
file's units), what was dropped and why, and notes. ``to_resistance`` converts the values to
the V/A the inversion fits; ``assign_uncertainty`` sets standard deviations; ``summarize``
is what ``hpcinv data`` prints. Errors name the file, the 1-based line and the column.
"""

from hpcinv.readers.fielddata import DATA_TYPES, FORMATS, DroppedRow, FieldData
from hpcinv.readers.formats import detect_format, read_survey, write_survey
from hpcinv.readers.geometric import geometric_factors, halfspace_response, to_resistance
from hpcinv.readers.summary import summarize
from hpcinv.readers.tables import read_polyline, read_topography
from hpcinv.readers.uncertainty import assign_uncertainty

__all__ = [
    "read_survey",
    "write_survey",
    "detect_format",
    "to_resistance",
    "assign_uncertainty",
    "geometric_factors",
    "halfspace_response",
    "summarize",
    "read_topography",
    "read_polyline",
    "FieldData",
    "DroppedRow",
    "FORMATS",
    "DATA_TYPES",
]
