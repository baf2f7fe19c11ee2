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


@pytest.mark.parametrize("where", ["postgresql", "mixed"])
def test_random_interleaving_on_servers(pg: dict[str, str], tmp_path: Path, where: str) -> None:
    """The same on three PostgreSQL servers, and with users on a server, the others in files."""
    servers = pg if where == "postgresql" else {"users": pg["users"]}
    checker = interleave(tmp_path, 1, count=25, servers=servers)
    assert checker.checks >= 3, checker.happened
    assert checker.happened["finished run"] >= 2, checker.happened


@pytest.mark.slow
@pytest.mark.parametrize("seed", [6, 7])
def test_random_interleaving_on_servers_long(pg: dict[str, str], tmp_path: Path, seed: int) -> None:
    checker = interleave(tmp_path, seed, count=120, records=1500, servers=pg)
    assert checker.checks >= 20


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 4, 5])
def test_random_interleaving_long(tmp_path: Path, seed: int) -> None:
    checker = interleave(tmp_path, seed, count=120, records=1500)
    assert checker.checks >= 20
