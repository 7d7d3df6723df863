# A script that fails inside main(): what it printed comes back, and the message names the
# exception and the line.
import asyncio
import json

async def main():
    rows = json.loads(await get_sales({"region": "West"}))
    print(len(rows), "rows")
    return rows[0]["profit"]

asyncio.run(main())
