"""20 concurrent askers through the REST API with the real default models, then again with an ingest beside them.

    python bench/concurrency.py [--askers 20] [--index DIR]

Starts `newsqa`'s REST API in-process on a free loopback port over `data/sample/` (ingested first), fires the
askers at once (tests/load_askers.py), then repeats while `data/injection/` is ingested through the API.
Prints answered / errors / cross-talk, latency p50/p95/max and throughput, plus the machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from load_askers import free_port, run_load  # noqa: E402



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--askers", type=int, default=20)
    parser.add_argument("--index", default=None)
    args = parser.parse_args()

    import httpx
    import uvicorn

    from qa.api import create_api
    from qa.service import QAService
    from qa.settings import Settings

    index = Path(args.index or tempfile.mkdtemp(prefix="newsqa-conc-"))
    service = QAService(settings=Settings(index_dir=index))
    service.ingest([ROOT / "data" / "sample"])
    service.llm.load()  # load the generator before the clock starts
    questions = [json.loads(line)["question"] for line in (ROOT / "data/eval/sample_qa.jsonl").open()
                 if json.loads(line).get("answerable", True)][: args.askers]
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_api(service), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    while True:
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    from bench.ingest import machine

    print(f"machine: {machine()}; {service.stats()['chunks']} chunks; {len(questions)} distinct questions",
          flush=True)

    alone = run_load(base, args.askers, questions=questions, as_of="2025-11-05", timeout=3600)
    print("askers alone:", json.dumps(alone.summary()), flush=True)

    records = []
    for line in (ROOT / "data/injection/wire-feed.jsonl").open(encoding="utf-8"):
        records.append(json.loads(line))
    ingest: dict = {}

    def do_ingest() -> None:
        start = time.perf_counter()
        res = httpx.post(f"{base}/api/ingest/records", json={"records": records}, timeout=3600)
        ingest.update(status=res.status_code, seconds=round(time.perf_counter() - start, 1),
                      added=res.json().get("added"))

    writer = threading.Thread(target=do_ingest)
    writer.start()
    time.sleep(1.0)
    beside = run_load(base, args.askers, questions=questions, as_of="2025-11-05", timeout=3600)
    writer.join()
    print("askers beside an ingest:", json.dumps(beside.summary()), "ingest:", json.dumps(ingest), flush=True)
    server.should_exit = True


if __name__ == "__main__":
    main()
