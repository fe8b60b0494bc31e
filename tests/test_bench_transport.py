"""bench/transport.py measures what it says: fewer bytes each way and in the driver."""

from __future__ import annotations

from bench.transport import measure


def test_the_transport_benchmark_measures_both_ways_on_a_small_grid() -> None:
    f = measure(5)
    assert f["requests"] == 20 and f["shards"] >= 4
    assert f["back_after"] * 3 < f["back_before"]  # the prompt no longer comes back
    assert f["sent_after"] < f["sent_before"]
    assert f["ids_array"] * 3 < f["ids_list"]
