# The shape of the recorded PTC run (vercel/ai anthropic-programmatic-tool-calling.1.json): an
# async main with a loop of gathered calls, results read with int(), ended by asyncio.run(main()).
import asyncio

async def main():
    wins = {"player1": 0, "player2": 0}
    round_num = 0
    print("=" * 30)
    while max(wins.values()) < 3:
        round_num += 1
        results = await asyncio.gather(
            roll_die({"player": "player1"}),
            roll_die({"player": "player2"})
        )
        roll1, roll2 = int(results[0]), int(results[1])
        if roll1 != roll2:
            wins["player1" if roll1 > roll2 else "player2"] += 1
        print(f"Round {round_num}: {roll1} vs {roll2} -> {wins['player1']}:{wins['player2']}")
    print("=" * 30)
    print(f"Winner: {max(wins, key=wins.get)} after {round_num} rounds")

asyncio.run(main())
