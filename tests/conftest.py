import os, pytest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get('HPA_SHARED_DATA', ROOT.parent/'shared'/'data'))

@pytest.fixture
def shared():
    "The real HPA sample data beside the repo; tests that need it skip cleanly when it is absent"
    if not SHARED.is_dir(): pytest.skip(f'real HPA data not found at {SHARED}')
    return SHARED
