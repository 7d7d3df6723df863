# Every argument form Claude writes: one dict, keyword arguments, both, and a lone string (the
# April 2026 form) for a tool whose only required parameter is a string.
import json

west = json.loads(await get_sales({"region": "West"}))
east = json.loads(await get_sales(region="East"))
north = json.loads(await get_sales({"region": "North"}, quarter="Q2"))
rows = json.loads(await query("SELECT region, revenue FROM sales"))
print(sum(r["revenue"] for r in west), sum(r["revenue"] for r in east), north[0]["quarter"], len(rows))
