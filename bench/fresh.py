"""From arrival to answerable: how long a new feed item takes to be found by a question, on a copy of an index.

    python bench/fresh.py --index /path/to/index        # an existing index (copied first, never changed)
    python bench/fresh.py                               # a fresh index with data/sample in it

A loopback news site (tests/web_fixtures.py) publishes a feed with one new story; a FeedWatcher polls it into the
index copy with the real embedder (its fetches wait 1 s between requests to one host, as for any site). While
the poll runs, the story's question is retrieved again and again until
its passage is among the top 5: found before the poll ends means found by keyword search while its vectors were
still being computed (each ingest batch goes to the keyword index first, vectorstore/pending.py). Prints the
arrival-to-answerable time, the poll's wall time (fetch, keyword index, embed and write, sync), the keyword sync
and compaction after it, how the passage was found, and the index size, with the machine.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, help="an index folder to copy (default: data/sample, ingested)")
    args = parser.parse_args()

    from bench.ingest import machine
    from qa.ingest.watch import FeedWatcher
    from qa.service import QAService
    from qa.settings import Settings
    from web_fixtures import PORT_QUESTION as QUESTION, NewsSite, publish_port_story

    work = Path(tempfile.mkdtemp(prefix="newsqa-bench-fresh-"))
    index = work / "index"
    if args.index:
        shutil.copytree(args.index, index)
    service = QAService(settings=Settings(index_dir=index, url_private="allow", translate_queries=False))
    if not args.index:
        service.ingest([ROOT / "data" / "sample"])
    chunks_before = service.store.count()
    service.chain.retriever.retrieve("warm-up question", None, 5)  # models loaded outside the timings

    with NewsSite() as site:
        watcher = FeedWatcher(service, work / "feeds.json", every_s=900)
        url = watcher.add(publish_port_story(site)).url

        timings: dict[str, float] = {}
        sync = service._sync_keyword

        def timed_sync() -> None:
            begin = time.perf_counter()
            sync()
            timings["keyword sync s"] = time.perf_counter() - begin

        service._sync_keyword = timed_sync
        keyword = service.keyword
        apply = keyword.apply

        def timed_apply(added, removed=()):
            timings.setdefault("staged: keyword-searchable s", time.perf_counter() - arrival)
            return apply(added, removed)

        keyword.apply = timed_apply
        polled: dict[str, object] = {}

        def poll() -> None:
            polled["state"] = watcher.poll(url)
            timings["poll s (fetch, keyword, embed, write, sync)"] = time.perf_counter() - arrival

        arrival = time.perf_counter()
        poller = threading.Thread(target=poll)
        poller.start()
        found, how = None, ""
        while found is None:
            ended = not poller.is_alive()  # read before the search: a last search after the poll ended
            passages = service.chain.retriever.retrieve(QUESTION, None, 5)
            hit = next((p for p in passages if "eleven electric pilot boats" in p.chunk.text), None)
            if hit is not None:
                found, how = hit.n, hit.matched_by
                timings["arrival to answerable s"] = time.perf_counter() - arrival
            elif ended:
                break
            else:
                time.sleep(0.05)
        poller.join()
        if "state" not in polled:
            raise SystemExit("the poll failed: see the error above")
        state = polled["state"]
    rows = {"index chunks": chunks_before, "new articles": state.new, "found at rank": found, "found by": how,
            **{k: round(v, 2) for k, v in timings.items()}}
    print(f"machine: {machine()}")
    print("| " + " | ".join(rows) + " |")
    print("|" + "---|" * len(rows))
    print("| " + " | ".join(str(v) for v in rows.values()) + " |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
