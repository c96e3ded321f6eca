"""Frames of customers given as wire JSON, typed exactly as a load types them.

Tests build their baselines from hand-written customers (``GET /customers`` entries) without
an emulator round trip; the values go through the package's own page decoder, so every dtype
is the one ``read_customers`` gives. Importable from any test module (``tests/`` is on
``sys.path`` through the rootdir ``conftest.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import pandas as pd

from cm_frames.read.pages import PageDecoder


def customers_to_frame(entries: Sequence[Mapping[str, Any]]) -> tuple[pd.DataFrame, dict[str, str]]:
    """The frame and the custom types of customer objects in the API's wire format.

    Parameters
    ----------
    entries : sequence of mapping
        Customers as ``GET /customers`` lists them (one ``GET /customers/{id}`` body: ``[body]``).

    Returns
    -------
    (DataFrame, dict)
        The frame, index ``id``, and the custom key -> custom type map of its attrs.
    """
    decoder = PageDecoder()
    # Through JSON and back: the decoder sees exactly what it would see from a response.
    decoder.add_entries(orjson.loads(orjson.dumps(list(entries))))
    decoded = decoder.finish()
    return decoded.to_frame(), dict(decoded.custom_types)
