from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.application import LedgerApplication
from projections import ReadModels


@pytest.fixture
def rm(app: LedgerApplication) -> Iterator[ReadModels]:
    models = ReadModels(app, batch_size=50)
    try:
        yield models
    finally:
        models.close()
