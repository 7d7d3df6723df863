"""What a run cost, estimated: tokens times the model's price, plus code-execution container time.

One price table, in USD per million tokens, from the pricing page (platform.claude.com/docs/en/
about-claude/pricing, as of 2026-11). Prices change: update an entry with `ptc.pricing.set_price(...)`
or replace `PRICES`. Every figure is labelled an estimate: it ignores free allowances, batch and
regional discounts, long-context surcharges and the container's minimum billing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Price:
    """USD per million tokens. Cache writes and reads default to the documented multipliers of input."""

    input: float
    output: float
    cache_write: float | None = None  # 5-minute cache writes: 1.25 x input
    cache_read: float | None = None  # cache hits: 0.1 x input

    @property
    def cache_write_per_mtok(self) -> float:
        return self.cache_write if self.cache_write is not None else 1.25 * self.input

    @property
    def cache_read_per_mtok(self) -> float:
        return self.cache_read if self.cache_read is not None else 0.1 * self.input


#: Model id prefix -> price; the longest matching prefix wins (so dated ids match their family).
PRICES: dict[str, Price] = {
    "claude-fable-5-1": Price(10.0, 50.0, cache_read=0.25),
    "claude-mythos-5-1": Price(10.0, 50.0, cache_read=0.25),
    "claude-fable-5": Price(10.0, 50.0),
    "claude-mythos-5": Price(10.0, 50.0),
    "claude-opus-5-5": Price(4.0, 20.0, cache_read=0.20),
    "claude-opus-5": Price(5.0, 25.0),
    "claude-opus-4-5": Price(5.0, 25.0),
    "claude-opus-4-6": Price(5.0, 25.0),
    "claude-opus-4-7": Price(5.0, 25.0),
    "claude-opus-4-8": Price(5.0, 25.0),
    "claude-opus-4": Price(15.0, 75.0),
    "claude-sonnet-5-5": Price(2.0, 10.0, cache_read=0.10),
    "claude-sonnet-5": Price(2.0, 10.0),
    "claude-sonnet-4": Price(3.0, 15.0),
    "claude-haiku-5-5": Price(0.10, 0.50),
    "claude-haiku-4-5": Price(1.0, 5.0),
    "claude-haiku-3-5": Price(0.80, 4.0),
}
#: Used for a model the table does not know (the estimate then says so).
FALLBACK = Price(5.0, 25.0)
#: Code-execution container time, USD per hour.
CONTAINER_USD_PER_HOUR = 0.05


def price_of(model: str) -> tuple[Price, bool]:
    """(price, known): the longest prefix of `model` in the table, else the fallback."""
    matches = [prefix for prefix in PRICES if model.startswith(prefix)]
    if not matches:
        return FALLBACK, False
    return PRICES[max(matches, key=len)], True


def set_price(model_prefix: str, **per_mtok: float) -> Price:
    """Add or change a model's price, e.g. `set_price("claude-opus-5-5", input=4, output=20)`."""
    current = PRICES.get(model_prefix)
    price = replace(current, **per_mtok) if current is not None else Price(**per_mtok)
    PRICES[model_prefix] = price
    return price


def estimate(model: str, usage: dict[str, Any], *, container_s: float = 0.0) -> dict[str, Any]:
    """The estimated cost of a run: `total_usd` and its parts, each in USD, plus what it assumed."""
    price, known = price_of(model)
    tokens = {
        key: int(usage.get(key) or 0)
        for key in ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    }
    parts = {
        "input_usd": tokens["input_tokens"] * price.input / 1e6,
        "output_usd": tokens["output_tokens"] * price.output / 1e6,
        "cache_write_usd": tokens["cache_creation_input_tokens"] * price.cache_write_per_mtok / 1e6,
        "cache_read_usd": tokens["cache_read_input_tokens"] * price.cache_read_per_mtok / 1e6,
        "container_usd": max(0.0, container_s) / 3600 * CONTAINER_USD_PER_HOUR,
    }
    parts = {k: round(v, 6) for k, v in parts.items()}
    return {
        "total_usd": round(sum(parts.values()), 6),
        **parts,
        "estimate": True,
        "model_priced_as": model if known else "unknown model: priced like Opus 5",
        "container_s": round(container_s, 3),
    }


def format_usd(amount: float) -> str:
    """$0.0123 below a cent's tenth place matters; $1.23 above a dollar."""
    if amount >= 1:
        return f"${amount:,.2f}"
    return f"${amount:.4f}"


def comparison_with_costs(run: Any) -> dict[str, Any] | None:
    """A copy of `run.comparison` with `cost_usd` (estimated) on each side that lacks it: the run's
    own side (`ptc`, or `direct` for a direct run) its `run.cost`; the other side its input and
    output tokens at the run's model's price (plus its wall time as container time if it is PTC)."""
    comparison = copy.deepcopy(run.comparison)
    if not isinstance(comparison, dict):
        return comparison
    own = "direct" if run.mode == "direct" else "ptc"
    for side in ("ptc", "direct"):
        figures = comparison.get(side)
        if not isinstance(figures, dict) or "cost_usd" in figures:
            continue
        if side == own:
            figures["cost_usd"] = run.cost["total_usd"]
        elif all(isinstance(figures.get(k), (int, float)) for k in ("input_tokens", "output_tokens")):
            wall_s = figures.get("wall_s") if side == "ptc" else 0.0
            container_s = wall_s if isinstance(wall_s, (int, float)) else 0.0
            figures["cost_usd"] = estimate(run.model, figures, container_s=container_s)["total_usd"]
    return comparison
