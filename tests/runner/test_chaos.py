"""An operator's worst day, in under a minute and a half: steady load, kill -9 three times,
a destination that flaps through every failure, and a disk that fills and frees.

Every answered event ends delivered or a visible dead letter; duplicates (a batch taken
just before a kill is sent again) are counted and printed; delivery resumes without a
restart once the disk has room.
"""

from __future__ import annotations

import collections
import itertools
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from runner.store import DATABASE_FILE
from tests.runner.destination import Answer, FaultyDestination
from tests.runner.disk import small_disk
from tests.runner.harness import Runner, wait_until

HANDLER = '''
def on_request(request, settings):
    Segment.track({"event": "Hit", "userId": "u", "properties": {"n": request.json()["n"]}})
'''
SENDERS = 4
LOAD_SECONDS = 30.0
KILLS_AT = (5.0, 10.0, 15.0)
DISK_FULL = (19.0, 25.0)


def flapping(destination: FaultyDestination) -> list[Answer]:
    return [Answer(503), Answer(), Answer(429, headers={"Retry-After": "1"}),
            Answer(drop=True), Answer(), Answer(200, stall=1.5),
            Answer(502, b"<html>\xff\xfe proxy error</html>"),
            Answer(301, b"", {"Location": destination.url + "/moved"}), Answer()]


def dead_lettered(data_dir: Path) -> list[int]:
    import json

    db = sqlite3.connect(data_dir / DATABASE_FILE, timeout=10)
    try:
        rows = db.execute("SELECT batch FROM dead_letters").fetchall()
    finally:
        db.close()
    return [m["properties"]["n"] for (batch,) in rows for m in json.loads(batch)["batch"]]


@pytest.mark.slow
def test_chaos(start_runner, destination: FaultyDestination, tmp_path: Path) -> None:
    started = time.monotonic()
    with small_disk(tmp_path / "disk", size="24m") as disk:
        data_dir = disk.path / "data"
        args = ("--segment-endpoint", destination.url, "--write-key", "wk_chaos")
        current: list[Runner] = [start_runner(HANDLER, *args, data_dir=data_dir)]
        answered: set[int] = set()
        refused = collections.Counter[str]()
        unavailable: list[float] = []  # when the runner answered 503 (its disk)
        numbers = itertools.count()
        stop = threading.Event()

        def send() -> None:
            with httpx.Client(timeout=10) as client:
                while not stop.is_set():
                    n = next(numbers)
                    try:
                        response = client.post(current[-1].url, json={"n": n})
                    except httpx.HTTPError as exc:
                        refused[type(exc).__name__] += 1
                        time.sleep(0.05)
                        continue
                    if response.status_code == 200:
                        answered.add(n)
                    elif response.status_code == 503:
                        unavailable.append(time.monotonic())
                        time.sleep(0.05)
                    else:
                        refused[str(response.status_code)] += 1
                        time.sleep(0.05)

        def flap() -> None:
            for answer in itertools.cycle(flapping(destination)):
                if stop.wait(0.7):
                    return
                destination.default = answer

        threads = [threading.Thread(target=send) for _ in range(SENDERS)]
        threads.append(threading.Thread(target=flap))
        for thread in threads:
            thread.start()
        try:
            t0 = time.monotonic()
            for at in KILLS_AT:
                time.sleep(max(0.0, t0 + at - time.monotonic()))
                current[-1].kill()
                current.append(start_runner(HANDLER, *args, data_dir=data_dir))
            time.sleep(max(0.0, t0 + DISK_FULL[0] - time.monotonic()))
            disk.fill()
            filled = time.monotonic()
            # SQLite first writes into the room its files already have: the runner feels
            # the full disk once that is used up, and the disk stays full until it has.
            wait_until(lambda: any(at > filled for at in unavailable), timeout=45,
                       every=0.1)
            time.sleep(max(1.0, t0 + DISK_FULL[1] - time.monotonic()))
            disk.free()
            time.sleep(max(0.0, t0 + LOAD_SECONDS - time.monotonic()))
        finally:
            stop.set()
            for thread in threads:
                thread.join()
            destination.default = Answer()
        last = current[-1]

        def settled() -> bool:
            delivered = {m["properties"]["n"] for m in destination.taken}
            return answered <= delivered | set(dead_lettered(data_dir))

        wait_until(settled, timeout=45, every=0.5)
        taken = collections.Counter(m["properties"]["n"] for m in destination.taken)
        letters = dead_lettered(data_dir)
        duplicates = sum(count - 1 for count in taken.values())
        assert last.process is not None and last.process.poll() is None, "it was restarted"
        # Delivery went on after the disk was freed, in the process that saw it full.
        assert any(r.at > t0 + DISK_FULL[1] and r.taken for r in destination.received)
        statuses = collections.Counter(map(str, destination.statuses()))
        print(f"\nchaos: {len(answered)} events answered 200, {len(set(taken) & answered)} "
              f"delivered, {len(letters)} dead letters, {duplicates} duplicates; "
              f"503 while the disk was full: {len(unavailable)}; "
              f"refused or failed sends: {dict(refused)}; destination answers: "
              f"{dict(statuses)}; {time.monotonic() - started:.0f} s")
        assert len(answered) > 100
        assert not set(letters) - set(taken) - answered  # every dead letter is an event
        last.stop()
        disk.free()
