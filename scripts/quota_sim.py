#!/usr/bin/env python3
"""The calculation behind docs/quota.md, "Why these rules": how much of the domain's rate
replicas with fixed shares can use when OCR latency varies, for the two pacing rules and the
two ways of splitting the rate.

Each replica is simulated on its own (fixed shares make them independent), always backlogged
(a job is ready whenever a slot frees), with the limiter's order: take a slot, then pass the
rate rule, then call. Rules:
- period: one call per period, a GCRA with 2 ms of tolerance (the limiter before issue 15);
- window: at most the share in any 1.008 s (the limiter since issue 15).
The rate is 40 calls/s less the 0.8 % margin, 8 slots. Usage: scripts/quota_sim.py [seconds]
"""
import heapq
import math
import random
import sys

MARGIN = 0.008
WINDOW = 1.008
RATE, SLOTS = 40, 8
MODELS = {
    "uniform 100-150 ms": lambda rng: rng.uniform(0.100, 0.150),
    "lognormal 150 ms, sigma 0.5": lambda rng: 0.150 * math.exp(0.5 * rng.gauss(0, 1)),
    "100 +- 50 ms": lambda rng: rng.uniform(0.050, 0.150),
}


def split(total, n, rank):
    return total // n + (1 if rank < total % n else 0)


def shares(n, proportional):
    slots = [split(SLOTS, n, r) for r in range(n)]
    if not proportional:
        return list(zip(slots, (split(RATE, n, r) for r in range(n))))
    # Largest remainder in proportion to slots (presence::split_rate, whole rates).
    exact = [RATE * s / SLOTS for s in slots]
    floors = [math.floor(e) for e in exact]
    order = sorted(range(n), key=lambda r: (-(exact[r] - floors[r]), r))
    for r in order[: RATE - sum(floors)]:
        floors[r] += 1
    return list(zip(slots, floors))


def replica(slots, rate, latency, rule, seconds, seed):
    rng = random.Random(seed)
    free = [0.0] * slots
    tat, period, starts, calls = 0.0, 1.0 / (rate * (1 - MARGIN)), [], 0
    while True:
        t = heapq.heappop(free)
        if rule == "period":
            t = max(t, tat - 0.002)
            tat = max(tat, t) + period
        elif len(starts) >= rate:
            t = max(t, starts[-rate] + WINDOW)
        if t > seconds:
            return calls / seconds
        starts.append(t)
        if len(starts) > 4 * rate:
            del starts[: 2 * rate]
        calls += 1
        heapq.heappush(free, t + latency(rng))


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2000.0
    print("| latency | rule | split | 1 replica | 3 replicas | 6 replicas |")
    print("|---|---|---|---|---|---|")
    for name, latency in MODELS.items():
        for rule in ("period", "window"):
            for proportional in (False, True):
                cells = []
                for n in (1, 3, 6):
                    used = sum(
                        replica(c, r, latency, rule, seconds, seed)
                        for seed, (c, r) in enumerate(shares(n, proportional))
                    )
                    cells.append(f"{used / RATE * 100:.1f} %")
                split_name = "proportional" if proportional else "even"
                print(f"| {name} | {rule} | {split_name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
