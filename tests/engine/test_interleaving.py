"""The randomized interleaving test, short: runs, resets and kills at random on one database
folder, checked at random instants by a checker that shares no code with the engine (see
`tests/interleaving.py`, which also runs a long schedule by hand)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.interleaving import interleave


@pytest.mark.parametrize("seed", [1, 2])
def test_random_interleaving_of_runs_resets_and_kills(tmp_path: Path, seed: int) -> None:
    checker = interleave(tmp_path, seed, count=25)
    # What the seed scheduled (the same on every try), and that runs really finished.
    assert checker.scheduled["reset"] >= 2 and checker.scheduled["kill"] >= 1
    assert checker.checks >= 3, checker.happened
    assert checker.happened["finished run"] >= 2, checker.happened


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 4, 5])
def test_random_interleaving_long(tmp_path: Path, seed: int) -> None:
    checker = interleave(tmp_path, seed, count=120, records=1500)
    assert checker.checks >= 20
