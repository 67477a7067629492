"""dataforge: a deterministic, accounted pre-training data engine on Ray.

Importing this package is cheap: Ray, models and tokenizers load only when a run needs them.
"""

__version__ = "0.1.0"

from dataforge.schema import CORE_SCHEMA, empty_documents  # noqa: E402
from dataforge.stage import Annotator, DatasetStage, Filter, Resources, Stage, Transform  # noqa: E402

__all__ = [
    "__version__",
    "CORE_SCHEMA",
    "empty_documents",
    "Stage",
    "Annotator",
    "Filter",
    "Transform",
    "DatasetStage",
    "Resources",
]
