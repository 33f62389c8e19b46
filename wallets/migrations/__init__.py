"""Schema migrations (Alembic, driven from code; the revisions ship in ``versions/`` inside the package).

Public face: ``prepare`` (start-up: one query when current, else upgrade or refuse) and ``ensure_current`` (the same
for a package's own engine), ``upgrade`` and
``current`` (``braid db``), ``new_revision`` (developers: ``braid db revision``), ``head``, and the errors
``SchemaError`` / ``SchemaTooNew``. ``registry.MODEL_MODULES`` lists the packages whose tables they cover.
"""

from wallets.migrations.runner import (
    BASELINE,
    SchemaError,
    SchemaTooNew,
    baseline_differences,
    current,
    ensure_current,
    head,
    new_revision,
    prepare,
    revisions,
    upgrade,
)

__all__ = [
    "BASELINE",
    "SchemaError",
    "SchemaTooNew",
    "baseline_differences",
    "current",
    "ensure_current",
    "head",
    "new_revision",
    "prepare",
    "revisions",
    "upgrade",
]
