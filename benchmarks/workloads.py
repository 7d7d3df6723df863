"""The tools and scripts the benchmarks run: the guide's tasks, sleeping and no-op tools, CPU-bound work.

Everything here is module-level and standard-library only, so a process pool or a dask worker can
unpickle the CPU-bound tool by importing this module. Results are deterministic (no clock, no
randomness), so the byte counts are the same on every machine.
"""

from __future__ import annotations

import asyncio
import time

TICKERS = ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "NVDA", "META", "NFLX", "AMD", "INTC"]
SERVERS = [f"srv-{i:02d}" for i in range(1, 51)]
UNHEALTHY = {"srv-07": "degraded", "srv-23": "down", "srv-41": "degraded"}

#: How long `slow_lookup` sleeps (the benchmark sets it; 0.3 s unless --quick).
SLEEP_S = 0.3


def fenced(code: str, ask: str = "Run this.") -> str:
    """A prompt whose ```python block the offline emulator runs as Claude's script."""
    return f"{ask}\n\n```python\n{code.strip()}\n```\n"


# -- I/O-bound tools (async: gathered on the kernel's loop) ---------------------------------------


async def slow_lookup(i: int) -> str:
    """Looks up item i (takes SLEEP_S seconds). Returns 'item <i>'."""
    await asyncio.sleep(SLEEP_S)
    return f"item {i}"


async def noop(i: int) -> str:
    """Does nothing. Returns 'ok'."""
    return "ok"


async def get_stock_price(ticker: str) -> dict:
    """Current price of a stock. Returns {"ticker", "price", "currency"}.

    Args:
        ticker: Stock symbol, e.g. AAPL.
    """
    price = round(50 + sum(ord(c) * (k + 1) for k, c in enumerate(ticker)) % 900 + len(ticker) / 7, 2)
    return {"ticker": ticker, "price": price, "currency": "USD"}


async def check_server_status(server: str) -> dict:
    """Health of one server. Returns {"server", "status", "latency_ms", "cpu_pct", "mem_pct", "region"}.

    Args:
        server: Server name, e.g. srv-01.
    """
    n = int(server.rsplit("-", 1)[-1]) if server.rsplit("-", 1)[-1].isdigit() else len(server)
    return {
        "server": server,
        "status": UNHEALTHY.get(server, "healthy"),
        "latency_ms": 12 + n * 7 % 40,
        "cpu_pct": round(20 + n * 13 % 60 + 0.5, 1),
        "mem_pct": round(30 + n * 17 % 55 + 0.25, 2),
        "region": ("eu-west-1", "us-east-1", "ap-south-1")[n % 3],
    }


# -- CPU-bound tool (sync: runs in the executor; module level so it pickles by reference) ---------


def crunch(n: int, seed: int) -> int:
    """Pure-Python busy work: n rounds of an integer hash. Returns the final value."""
    x = seed
    for i in range(n):
        x = (x * 1103515245 + 12345 + i) & 0x7FFFFFFF
    return x


def calibrate_crunch(target_s: float, attempts: int = 5) -> int:
    """The `n` for which `crunch(n, 0)` takes about `target_s` seconds here (fastest of a few tries)."""
    n = 20_000
    while True:
        t0 = time.perf_counter()
        crunch(n, 0)
        if time.perf_counter() - t0 > 0.01:
            break
        n *= 2
    best = min(_timed(crunch, n) for _ in range(attempts))
    return max(1, int(n * target_s / best))


def _timed(func, *args) -> float:
    t0 = time.perf_counter()
    func(*args, 0)
    return time.perf_counter() - t0


# -- scripts (what "Claude" runs in the emulator) -------------------------------------------------


def gather_script(tool: str, n: int) -> str:
    return fenced(f"""
import asyncio
results = await asyncio.gather(*[{tool}({{"i": i}}) for i in range({n})])
print(len(results), "results")
""")


def batches_script(tool: str, batches: int, per_batch: int) -> str:
    return fenced(f"""
import asyncio
done = 0
for b in range({batches}):
    results = await asyncio.gather(*[{tool}({{"i": b * {per_batch} + i}}) for i in range({per_batch})])
    done += len(results)
print(done, "calls")
""")


def stocks_script(tickers: list[str] = TICKERS) -> str:
    """The guide's 10-ticker task: fetch all prices at once, report the highest."""
    return fenced(
        f"""
import asyncio, json
tickers = {tickers!r}
prices = [json.loads(p) for p in await asyncio.gather(*[get_stock_price({{"ticker": t}}) for t in tickers])]
best = max(prices, key=lambda p: p["price"])
print(f"Highest: {{best['ticker']}} at {{best['price']}} {{best['currency']}}")
""",
        ask="Which of these stocks has the highest price?",
    )


def servers_script(count: int = len(SERVERS)) -> str:
    """The guide's status check: every server at once, report those not healthy."""
    return fenced(
        f"""
import asyncio, json
servers = [f"srv-{{i:02d}}" for i in range(1, {count + 1})]
statuses = [json.loads(s) for s in await asyncio.gather(*[check_server_status({{"server": s}}) for s in servers])]
bad = [s for s in statuses if s["status"] != "healthy"]
print(f"{{len(bad)}} of {{len(servers)}} not healthy: " + ", ".join(f"{{s['server']}} ({{s['status']}})" for s in bad))
""",
        ask="Which servers are not healthy?",
    )


def crunch_script(n_calls: int, rounds: int) -> str:
    return fenced(f"""
import asyncio
values = await asyncio.gather(*[crunch({{"n": {rounds}, "seed": i}}) for i in range({n_calls})])
print(len(values), "values")
""")


# -- a five-pause run: an order-fulfilment investigation (prompt caching) -------------------------
#
# Five tools with the docstrings a team would write for Claude (what each returns, field by field,
# since the script parses it), and one script whose five rounds of gathered lookups each depend on
# the previous round's results: the run pauses five times (6 requests), and its history grows.

REGIONS = ["north", "south", "east", "west", "central", "export"]
LATE_ORDER_STATUSES = ("awaiting_stock", "in_transit", "held_at_depot", "awaiting_pickup")


def _n(text: str) -> int:
    """A stable number from a string (no hash randomisation, so results are the same everywhere)."""
    return sum((k + 1) * ord(c) for k, c in enumerate(text))


async def list_late_orders(region: str, min_days_late: int = 2) -> list[dict]:
    """Orders in a sales region whose promised delivery date has passed, oldest first.

    Only orders that are paid and not yet delivered are listed; cancelled and returned orders never
    are. Use it to find what to chase, then `get_order` for the items and shipments of each.

    Returns a JSON list of objects with these keys:
      - "order_id" (str): e.g. "SO-20931".
      - "customer_id" (str): e.g. "C-4410".
      - "promised_date" (str): ISO date the customer was promised.
      - "days_late" (int): whole days past the promised date, at least `min_days_late`.
      - "status" (str): one of "awaiting_stock", "in_transit", "held_at_depot", "awaiting_pickup".
      - "value_eur" (float): order value including VAT.
    An unknown region returns an empty list.

    Args:
        region: Sales region: "north", "south", "east", "west", "central" or "export".
        min_days_late: Leave out orders fewer than this many days late (default 2).
    """
    if region not in REGIONS:
        return []
    base = REGIONS.index(region) * 1000 + 20000
    orders = []
    for k in range(12):
        n = _n(f"{region}{k}")
        days = 2 + (n * 7 + k) % 19
        if days >= min_days_late:
            orders.append(
                {
                    "order_id": f"SO-{base + k * 37 % 1000:05d}",
                    "customer_id": f"C-{4000 + n % 900}",
                    "promised_date": f"2026-11-{28 - days % 27:02d}",
                    "days_late": days,
                    "status": LATE_ORDER_STATUSES[n % 4],
                    "value_eur": round(80 + n % 2400 + k / 4, 2),
                }
            )
    return sorted(orders, key=lambda o: -o["days_late"])


async def get_order(order_id: str) -> dict:
    """One order in full: its lines, its shipments and the customer's delivery preferences.

    Returns a JSON object with these keys:
      - "order_id", "customer_id" (str).
      - "lines" (list): objects with "sku" (str, e.g. "SKU-1187"), "description" (str), "qty" (int)
        and "allocated" (bool: stock is reserved for this line).
      - "shipments" (list): objects with "tracking_number" (str), "carrier" (str) and "lines" (list of
        SKUs in that parcel). Empty until something has shipped.
      - "delivery" (object): "country" (str), "postcode" (str), "instructions" (str, may be empty).
    An unknown order id returns {"error": "unknown order"}.

    Args:
        order_id: The order's id, e.g. "SO-20931".
    """
    n = _n(order_id)
    lines = [
        {
            "sku": f"SKU-{1000 + (n + 97 * k) % 400}",
            "description": f"Component type {(n + k) % 23}",
            "qty": 1 + (n + k) % 6,
            "allocated": (n + k) % 3 != 0,
        }
        for k in range(3 + n % 3)
    ]
    shipped = [line["sku"] for line in lines if line["allocated"]]
    shipments = [
        {
            "tracking_number": f"TRK{n % 100000:05d}{k}",
            "carrier": ("DHL", "UPS", "GLS")[(n + k) % 3],
            "lines": shipped[k::2],
        }
        for k in range(min(2, len(shipped)))
    ]
    return {
        "order_id": order_id,
        "customer_id": f"C-{4000 + n % 900}",
        "lines": lines,
        "shipments": shipments,
        "delivery": {
            "country": ("DE", "FR", "NL", "PL")[n % 4],
            "postcode": f"{10000 + n % 89999}",
            "instructions": "Deliver to goods-in, dock 3." if n % 2 else "",
        },
    }


async def track_shipment(tracking_number: str) -> dict:
    """The carrier's tracking history for one parcel, newest event first.

    Returns a JSON object with these keys:
      - "tracking_number" (str), "carrier" (str).
      - "state" (str): "label_created", "in_transit", "exception", "out_for_delivery" or "delivered".
      - "events" (list): objects with "at" (str, ISO timestamp), "location" (str) and "description"
        (str, the carrier's wording).
      - "exception" (str or null): the reason when state is "exception" (e.g. "address incomplete").
    An unknown tracking number returns {"error": "not found at any carrier"}.

    Args:
        tracking_number: As printed on the label, e.g. "TRK204410".
    """
    n = _n(tracking_number)
    states = ("label_created", "in_transit", "exception", "out_for_delivery", "delivered")
    state = states[n % 5]
    events = [
        {
            "at": f"2026-11-{27 - k:02d}T{(n + 5 * k) % 24:02d}:{(n * k) % 60:02d}:00Z",
            "location": ("Leipzig hub", "Duisburg depot", "Venlo sort centre", "Poznan hub")[(n + k) % 4],
            "description": (
                "Parcel scanned at facility",
                "Departed facility",
                "Arrived at facility",
                "Delivery attempted, recipient absent",
            )[(n + 2 * k) % 4],
        }
        for k in range(4 + n % 5)
    ]
    return {
        "tracking_number": tracking_number,
        "carrier": ("DHL", "UPS", "GLS")[n % 3],
        "state": state,
        "events": events,
        "exception": "address incomplete" if state == "exception" else None,
    }


async def check_stock(sku: str) -> dict:
    """Stock of one SKU in each warehouse, and what is on order from suppliers.

    Returns a JSON object with these keys:
      - "sku" (str), "description" (str).
      - "warehouses" (list): objects with "warehouse" (str), "on_hand" (int), "reserved" (int) and
        "available" (int: on_hand minus reserved, never below 0).
      - "inbound" (list): purchase orders not yet received, objects with "po" (str), "qty" (int) and
        "expected" (str, ISO date).
    An unknown SKU returns {"error": "unknown sku"}.

    Args:
        sku: The stock-keeping unit, e.g. "SKU-1187".
    """
    n = _n(sku)
    warehouses = []
    for k, name in enumerate(("Leipzig", "Venlo", "Lyon")):
        on_hand, reserved = (n + 31 * k) % 40, (n + 17 * k) % 25
        warehouses.append(
            {"warehouse": name, "on_hand": on_hand, "reserved": reserved, "available": max(0, on_hand - reserved)}
        )
    inbound = [
        {
            "po": f"PO-{(n + k) % 9000 + 1000}",
            "qty": 20 + (n + k) % 80,
            "expected": f"2026-12-{1 + (n + 9 * k) % 28:02d}",
        }
        for k in range(n % 3)
    ]
    return {"sku": sku, "description": f"Component type {n % 23}", "warehouses": warehouses, "inbound": inbound}


async def get_customer(customer_id: str) -> dict:
    """A customer's account: tier, account manager and how late deliveries affect them.

    Returns a JSON object with these keys:
      - "customer_id" (str), "name" (str).
      - "tier" (str): "strategic", "key" or "standard"; strategic accounts are escalated first.
      - "account_manager" (str): who to copy on an escalation.
      - "sla_days" (int): days late after which a contractual penalty applies.
      - "open_complaints" (int): complaints not yet closed.
    An unknown id returns {"error": "unknown customer"}.

    Args:
        customer_id: The customer's id, e.g. "C-4410".
    """
    n = _n(customer_id)
    return {
        "customer_id": customer_id,
        "name": f"Customer {n % 997} GmbH",
        "tier": ("strategic", "key", "standard", "standard")[n % 4],
        "account_manager": ("A. Novak", "B. Laurent", "C. Berg", "D. Rossi")[n % 4],
        "sla_days": 5 + n % 10,
        "open_complaints": n % 3,
    }


FULFILMENT_TOOLS = [list_late_orders, get_order, track_shipment, check_stock, get_customer]


def fulfilment_script() -> str:
    """Five rounds, each needing the one before: late orders per region; the oldest ones in full;
    their parcels; stock for the unallocated lines; the customers to escalate to."""
    return fenced(
        f"""
import asyncio, json

async def each(tool, args):
    return [json.loads(r) for r in await asyncio.gather(*[tool(a) for a in args])]

regions = {REGIONS!r}
late = [o for orders in await each(list_late_orders, [{{"region": r}} for r in regions]) for o in orders]
oldest = sorted(late, key=lambda o: -o["days_late"])[:8]
orders = await each(get_order, [{{"order_id": o["order_id"]}} for o in oldest])
parcels = [s["tracking_number"] for o in orders for s in o["shipments"]][:8]
tracking = await each(track_shipment, [{{"tracking_number": t}} for t in parcels])
short = sorted({{l["sku"] for o in orders for l in o["lines"] if not l["allocated"]}})[:8]
stock = await each(check_stock, [{{"sku": s}} for s in short])
customers = await each(get_customer, [{{"customer_id": c}} for c in sorted({{o["customer_id"] for o in oldest}})])

problems = [t["tracking_number"] for t in tracking if t["state"] == "exception"]
no_stock = [s["sku"] for s in stock if sum(w["available"] for w in s["warehouses"]) == 0]
escalate = [c["customer_id"] for c in customers if c["tier"] == "strategic"]
print(f"{{len(late)}} late orders; oldest {{oldest[0]['days_late']}} days")
print(f"parcels with exceptions: {{problems}}; SKUs out of stock: {{no_stock}}")
print(f"escalate to: {{escalate}}")
""",
        ask=(
            "Our fulfilment team needs this morning's late-order review. Find the late orders in every "
            "region, look at the eight oldest in full, check where their parcels are, check stock for "
            "the lines that are not allocated, and tell me which strategic customers to escalate to. "
            "Keep the lookups gathered where they do not depend on each other."
        ),
    )


def fulfilment_follow_ups() -> list[str]:
    """Two follow-up turns of the late-order review (`--continue`): each one lookup round, on the
    answer of the turn before, as an analyst asks after reading it."""
    return [
        fenced(
            """
import asyncio, json
late = [o for r in await asyncio.gather(*[list_late_orders({"region": r}) for r in ["north", "export"]])
        for o in json.loads(r)]
print(f"north + export: {len(late)} late orders, {sum(o['days_late'] for o in late)} days late in all")
""",
            ask="Which of those are in the north and export regions, and how late are they in all?",
        ),
        fenced(
            """
import asyncio, json
stock = [json.loads(s) for s in await asyncio.gather(*[check_stock({"sku": s}) for s in ["SKU-1001", "SKU-1002"]])]
print({s["sku"]: sum(w["available"] for w in s["warehouses"]) for s in stock})
""",
            ask="And how much of SKU-1001 and SKU-1002 is left across the warehouses?",
        ),
    ]
