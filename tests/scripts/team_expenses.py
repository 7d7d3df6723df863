# The guide's first example: top-level await, json.loads of each result, asyncio.gather.
import asyncio
import json

team = json.loads(await get_team_members({"department": "engineering"}))
expenses = await asyncio.gather(*[get_expenses({"user_id": m["id"], "quarter": "Q3"}) for m in team])
over = []
for member, spent in zip(team, expenses):
    total = sum(item["amount"] for item in json.loads(spent))
    if total > 1000:
        over.append((member["name"], total))
print(f"{len(over)} of {len(team)} over budget:", over)
