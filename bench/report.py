"""bench/RESULTS.md from the figures bench/run.py, bench/events.py and bench/admin_pages.py collected."""

import json
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def write(results: dict, *, duration: int, rounds: int, bodies: int, mix: dict) -> str:
    """Render every section from its figures (each kept in its own JSON file across runs) into RESULTS.md."""
    admin_pages, events, lines = BENCH / "admin_pages.json", BENCH / "events.json", BENCH / "migrate_lines.json"
    text = render(
        results,
        duration=duration,
        rounds=rounds,
        bodies=bodies,
        mix=mix,
        admin=json.loads(admin_pages.read_text()) if admin_pages.exists() else None,
        events=json.loads(events.read_text()) if events.exists() else None,
        lines_migration=json.loads(lines.read_text()) if lines.exists() else None,
    )
    (BENCH / "RESULTS.md").write_text(text)
    return text


def rewrite() -> str:
    """RESULTS.md again from the JSON files, with the webhook run's own parameters (bench/events.py's last step)."""
    results = json.loads((BENCH / "results.json").read_text())
    parameters = results.get("parameters") or {"duration": 8, "rounds": 3, "bodies": 30000, "mix": {}}
    return write(results, **parameters)


def _row(name: str, figures: dict) -> str:
    rounds = ", ".join(str(r) for r in figures["rps_rounds"])
    return (
        f"| {name} | {figures['rps']:,.0f} | {figures['p50_ms']:.2f} | {figures['p99_ms']:.2f} | {rounds} "
        f"| {figures['non2xx']} |"
    )


def _check(ok: bool) -> str:
    return "met" if ok else "**missed**"


def render(
    results: dict,
    *,
    duration: int,
    rounds: int,
    bodies: int,
    mix: dict,
    admin: dict | None = None,
    events: dict | None = None,
    lines_migration: dict | None = None,
) -> str:
    lines = [
        "# Webhook benchmark",
        "",
        f"Latest `make bench`: {results['date']}, {results['elapsed_seconds'] / 60:.1f} minutes end to end "
        f"(1M-order fill {results['fill_seconds']:.0f} s).",
        "",
        "Each figure is the median of "
        f"{rounds} rounds of {duration} s; the rounds alternate webhook, floor and ceiling so that noise from "
        "other work on the machine hits all three alike. The ratios are the figures that matter.",
        "",
    ]
    summary_rows = []
    for size in ("1k", "1M"):
        for connections in (8, 32):
            webhook = results[size][f"webhook@{connections}"]
            floor = results[size][f"floor@{connections}"]
            ceiling = results[size][f"ceiling@{connections}"]
            summary_rows.append(
                f"| {size} | {connections} | {webhook['rps'] / floor['rps']:.2f} | "
                f"{webhook['rps'] / ceiling['rps']:.2f} | {webhook['p99_ms']:.2f} |"
            )
    w1k, w1m = results["1k"]["webhook@8"], results["1M"]["webhook@8"]
    growth = w1m["p50_ms"] / w1k["p50_ms"]
    steady_growth = results["in_process_1M"]["webhook"]["p50_us"] / results["in_process_1k"]["webhook"]["p50_us"]
    floor_ratio = w1m["rps"] / results["1M"]["floor@8"]["rps"]
    assign = results["assign_agent"]
    known_queries = results["queries"]["known"]
    lines += [
        "## Targets",
        "",
        "| target | figure | |",
        "|---|---|---|",
        f"| webhook ≥ 0.85 × floor (1M orders, 8 connections) | {floor_ratio:.2f} × | {_check(floor_ratio >= 0.85)} |",
        f"| webhook p99 < 20 ms at 8 connections (1M orders) | {w1m['p99_ms']:.2f} ms | {_check(w1m['p99_ms'] < 20)} |",
        f"| p50 at 1M ÷ p50 at 1k ≤ 1.2 (wrk, 8 connections) | {growth:.2f} | {_check(growth <= 1.2)} |",
        f"| p50 at 1M ÷ p50 at 1k ≤ 1.2 (one request at a time) | {steady_growth:.2f} | "
        f"{_check(steady_growth <= 1.2)} |",
        f"| SQL queries for a known caller = 2 | {known_queries} | {_check(known_queries == 2)} |",
        f"| assign_agent p99 < 25 ms at {assign['live_orders']:,} live orders | {assign['p99_ms']:.1f} ms | "
        f"{_check(assign['p99_ms'] < 25)} |",
        "",
        "What each optimisation changed, with before and after figures: bench/PROFILE.md.",
        "",
        "## Ratios",
        "",
        "| orders | connections | webhook ÷ floor | webhook ÷ ceiling | webhook p99 (ms) |",
        "|---|---|---|---|---|",
        *summary_rows,
        "",
        f"Webhook p50 at 8 connections: {w1k['p50_ms']:.2f} ms at 1k orders, {w1m['p50_ms']:.2f} ms at 1M: "
        f"{growth:.2f} ×. At 32 connections: "
        f"{results['1M']['webhook@32']['p50_ms'] / results['1k']['webhook@32']['p50_ms']:.2f} ×.",
        "",
    ]
    for size, label in (("1k", "1,000 orders (100 live)"), ("1M", "1,000,000 orders (100,000 live)")):
        lines += [
            f"## {label}",
            "",
            "| target @ connections | req/s | p50 (ms) | p99 (ms) | req/s by round | errors |",
            "|---|---|---|---|---|---|",
        ]
        for key, figures in results[size].items():
            lines.append(_row(key.replace("@", " @ "), figures))
        durable = results[size]["floor_durable@8"]["rps"] / results[size]["floor@8"]["rps"]
        lines += [
            "",
            f"floor_durable is the floor with a durable commit for the call record: {durable:.2f} × the floor's "
            "throughput (see docs/performance.md, section 'Call records and synchronous_commit').",
            "",
        ]
    repeated = sum(f["repeated_bodies"] for size in ("1k", "1M") for f in results[size].values())
    lines += [
        "## What the load is",
        "",
        "- Plivo-style answer POSTs (13 form fields), each pre-signed with X-Plivo-Signature-V3 for the "
        "webhook's URL and sent with `X-Forwarded-Proto: https` as a TLS-terminating proxy would; "
        "PUBLIC_BASE_URL is https, so the production HTTPS settings are on.",
        f"- Caller mix: {', '.join(f'{weight} % {kind}' for kind, weight in mix.items())}. Known callers are "
        "customers and agents with one live order on the number; ambiguous ones have several (PIN prompt); "
        "unknown ones are strangers and past customers whose line has closed.",
        f"- Every webhook and floor run gets {bodies:,} freshly signed bodies with their own CallUUID, so every "
        "request inserts a row; requests beyond that would repeat a body (ON CONFLICT DO NOTHING, cheaper). "
        f"Repeated requests in this run: {repeated:,}. The ceiling reuses one file (it writes nothing).",
        "- The same gunicorn (production gunicorn.conf.py: "
        f"{results['gunicorn']['workers']} sync workers × {results['gunicorn']['threads']} thread) serves all "
        "three targets; wrk runs 2 threads on the same machine, as does Postgres.",
        "",
        "## One request at a time, in one process",
        "",
        "Each target run 1,500 times through Django's full stack (middleware, signature, SQL, XML) in the benchmark "
        "process, one request in flight, after each wrk phase. CPU is the Django process's own time, not "
        "Postgres's: it shows what the webhook adds on top of the floor. Without queueing these figures move far "
        "less with other load on the machine than wrk's. The per-call log line is at DEBUG, off here as under wrk.",
        "",
        "| target | CPU/request 1k (µs) | CPU/request 1M (µs) | p50 1k (µs) | p50 1M (µs) | p50 1M ÷ 1k "
        "| p99 1M (µs) |",
        "|---|---|---|---|---|---|---|",
        *[
            f"| {name} | {small['cpu_us']:,.0f} | {large['cpu_us']:,.0f} | {small['p50_us']:,.0f} "
            f"| {large['p50_us']:,.0f} | {large['p50_us'] / small['p50_us']:.2f} | {large['p99_us']:,.0f} |"
            for (name, small), large in zip(
                results["in_process_1k"].items(), results["in_process_1M"].values(), strict=True
            )
        ],
        "",
        "## SQL queries per answer, by caller kind",
        "",
        "| caller | queries |",
        "|---|---|",
        *[f"| {kind} | {count} |" for kind, count in results["queries"].items()],
        "",
        "The lookup is one statement (agent and proxy number resolved in scalar subqueries); the call record "
        "is one INSERT … ON CONFLICT DO NOTHING. A From that is not a phone number skips the lookup.",
        "",
        "## assign_agent",
        "",
        f"{assign['samples']} assignments of new orders (repeat customers, random agents) with "
        f"{assign['live_orders']:,} live orders on the 200-number pool, timed in-process: "
        f"p50 {assign['p50_ms']:.1f} ms, p99 {assign['p99_ms']:.1f} ms.",
        "",
        "## Routing query plans at 1M orders",
        "",
    ]
    for role, plan in results["explain"].items():
        lines += [f"Known {role}:", "", "```", plan, "```", ""]
    if "dashboard" in results:
        from bench.dashboard import render as render_dashboard

        lines += render_dashboard(results["dashboard"])
    machine = results["machine"]
    lines += [
        "## Machine",
        "",
        f"- CPU: {machine['cpu']}; nproc: {machine['nproc']}",
        f"- {machine['postgres']}, Python {machine['python']}",
        "- Load average (1, 5, 15 min) before: "
        + ", ".join(f"{x:.2f}" for x in results["load_before"])
        + "; after: "
        + ", ".join(f"{x:.2f}" for x in results["load_after"]),
        "",
        "```",
        machine["free"],
        "```",
        "",
    ]
    if events:
        lines += render_events(events)
    if lines_migration:
        lines += render_lines_migration(lines_migration)
    if admin:
        lines += render_admin(admin)
    return "\n".join(lines)


def render_lines_migration(run: dict) -> list[str]:
    """The "Lines migration" section from bench/migrate_lines.json (bench/migrate_lines.py)."""
    return [
        "## Lines migration",
        "",
        f"`python -m bench.migrate_lines` (part of `make bench`): {run['date']}. The orders migrations that give "
        "every order with a proxy number its customer–agent line (orders 0014–0016, voice 0011), timed with "
        "`migrate` on orders filled in the schema before lines, every tenth one live.",
        "",
        "| orders | lines made | forward | back |",
        "|---|---|---|---|",
        f"| {run['orders']:,} | {run['lines']:,} | {run['forward_seconds']:.1f} s | {run['back_seconds']:.1f} s |",
        "",
    ]


def render_events(run: dict) -> list[str]:
    """The "Event delivery" section from bench/events.json (bench/events.py)."""
    rounds = run["rounds"]

    def median(name: str) -> float:
        figures = sorted(r["events_per_s"] for r in rounds if r["round"] == name)
        return figures[len(figures) // 2]

    floor, one, two = median("floor"), median("throughput, 1 worker(s)"), median("throughput, 2 worker(s)")
    (latency,) = [r for r in rounds if r["round"].startswith("latency")]
    (transitions,) = [r for r in rounds if r["round"] == "event-raising API transitions"]
    return [
        "## Event delivery",
        "",
        f"`python -m bench.events` (part of `make bench`): {run['date']}, {run['events']:,} events a round, "
        f"{run['elapsed_seconds'] / 60:.1f} minutes end to end. The floor is a plain loop that signs the same events "
        "and POSTs them over one kept-alive connection to the same receiver (a process of its own); the workers "
        "are `manage.py worker` processes draining a backlog, timed from the first arrival to the last. Three rounds "
        "each, alternating; the median is kept.",
        "",
        "| measure | target | figure | |",
        "|---|---|---|---|",
        f"| delivery throughput, one worker ÷ floor | ≥ 0.5 | {one / floor:.2f} ({one:,.0f} ÷ {floor:,.0f} events/s) "
        f"| {_check(one / floor >= 0.5)} |",
        f"| two workers ÷ one worker | ≥ 1.3 | {two / one:.2f} ({two:,.0f} ÷ {one:,.0f} events/s) "
        f"| {_check(two / one >= 1.3)} |",
        f"| change → receiver latency at 20 events/s, p50 | ≤ 50 ms | {latency['p50_ms']:.1f} ms "
        f"| {_check(latency['p50_ms'] <= 50)} |",
        f"| change → receiver latency at 20 events/s, p99 | ≤ 250 ms | {latency['p99_ms']:.1f} ms "
        f"| {_check(latency['p99_ms'] <= 250)} |",
        f"| event-raising API transitions, 8 clients ÷ 1 | report | {transitions['ratio']:.2f} "
        f"({transitions['eight_clients_per_s']:,.0f} ÷ {transitions['one_client_per_s']:,.0f} transitions/s) | |",
        "",
        "`cpu_busy` is the share of the whole machine's CPU (all cores) in use while a round ran: the receiver, "
        "Postgres and the workers share the cores, so once one worker is near the floor, two workers can only "
        "add what the cores have left.",
        "",
        "Every round:",
        "",
        "```",
        *[json.dumps(r) for r in rounds],
        "```",
        "",
    ]


def render_admin(admin: dict) -> list[str]:
    """The "Admin pages" section from bench/admin_pages.json (bench/admin_pages.py), one column per run and size."""
    labels = sorted(admin, key=lambda label: {"before": 0, "after": 1}.get(label, 2))
    sizes = list(admin[labels[-1]]["sizes"])
    columns = [(size, label) for size in sizes for label in labels if size in admin[label]["sizes"]]
    pages = list(admin[labels[-1]]["sizes"][sizes[0]]["pages"])

    def cell(size: str, label: str, page: str, key: str = "median_ms") -> str:
        figures = admin[label]["sizes"][size]["pages"]
        if page not in figures:
            return "–"
        if key == "queries":
            sql_ms = figures[page].get("sql_ms")
            return str(figures[page]["queries"]) + ("" if sql_ms is None else f", {sql_ms:,.0f} ms")
        ms, index = figures[page]["median_ms"], figures["admin index"]["median_ms"]
        return f"{ms:,.0f} ms" if page == "admin index" else f"{ms:,.0f} ms ({ms / index:.1f} ×)"

    heading = " | ".join(f"{size} {label}" for size, label in columns)
    lines = [
        "## Admin pages",
        "",
        "`make bench-admin` (bench/admin_pages.py): each page through Django's test client with a logged-in "
        "superuser and the full middleware stack, on bench/fill.py's orders (a tenth of them live). Median of "
        "the rounds, and in brackets the page ÷ the admin index, the figure that matters.",
        "",
        *[
            f"- {label}: {run['date']}, commit {run['commit']}, {run['rounds']} rounds, "
            f"{run['elapsed_seconds'] / 60:.1f} minutes end to end"
            for label, run in ((label, admin[label]) for label in labels)
        ],
        "",
        f"| page | {heading} |",
        "|---|" + "---|" * len(columns),
        *[f"| {page} | " + " | ".join(cell(size, label, page) for size, label in columns) + " |" for page in pages],
        "",
        "SQL statements per page and the time the database took for them (median of three requests apart from the "
        "timed rounds); the rest of a page's time is Python, mostly rendering the rows:",
        "",
        f"| page | {heading} |",
        "|---|" + "---|" * len(columns),
        *[
            f"| {page} | " + " | ".join(cell(size, label, page, "queries") for size, label in columns) + " |"
            for page in pages
        ],
        "",
    ]
    return lines
