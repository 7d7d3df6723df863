# asyncio.run under a __main__ guard, with a helper coroutine and calls made one after another.
import asyncio
import json


async def total(region):
    rows = json.loads(await get_sales({"region": region}))
    return sum(r["revenue"] for r in rows)


async def main():
    totals = {}
    for region in ["West", "East"]:
        totals[region] = await total(region)
    best = max(totals, key=totals.get)
    print(f"best region: {best} ({totals[best]})")
    return totals


if __name__ == "__main__":
    result = asyncio.run(main())
    print(sorted(result))
