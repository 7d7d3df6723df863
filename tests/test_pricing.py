"""pricing.py: one price table, estimates labelled as such, prices users can update."""

from __future__ import annotations

import pytest

from ptc_jupyter import pricing


def test_tokens_times_price_plus_container_time():
    usage = {
        "input_tokens": 1_000_000,
        "output_tokens": 100_000,
        "cache_creation_input_tokens": 200_000,
        "cache_read_input_tokens": 2_000_000,
    }
    cost = pricing.estimate("claude-opus-4-8", usage, container_s=3600)
    assert cost["input_usd"] == 5.0 and cost["output_usd"] == 2.5
    assert cost["cache_write_usd"] == pytest.approx(1.25) and cost["cache_read_usd"] == pytest.approx(1.0)
    assert cost["container_usd"] == pytest.approx(0.05)
    assert cost["total_usd"] == pytest.approx(9.8) and cost["estimate"] is True


def test_the_longest_prefix_wins_and_dated_ids_match():
    assert pricing.price_of("claude-opus-4-1-20250805") == (pricing.PRICES["claude-opus-4"], True)
    assert pricing.price_of("claude-opus-4-5-20251101")[0].input == 5.0
    assert pricing.price_of("claude-sonnet-5-5")[0].cache_read_per_mtok == 0.10


def test_an_unknown_model_is_priced_by_the_fallback_and_says_so():
    cost = pricing.estimate("claude-offline-emulator", {"input_tokens": 10})
    assert cost["total_usd"] > 0 and cost["model_priced_as"].startswith("unknown model")


def test_prices_can_be_updated(monkeypatch):
    monkeypatch.setattr(pricing, "PRICES", dict(pricing.PRICES))
    pricing.set_price("claude-opus-5-5", input=1.0)
    assert pricing.estimate("claude-opus-5-5", {"input_tokens": 1_000_000})["input_usd"] == 1.0
    pricing.set_price("claude-new-7", input=2.0, output=8.0)
    assert pricing.price_of("claude-new-7-20270101") == (pricing.Price(2.0, 8.0), True)


def test_format():
    assert pricing.format_usd(0.01234) == "$0.0123" and pricing.format_usd(12.3) == "$12.30"
