"""The distinguishing game of tests/test_distinguishing_game.py, with more games, printing accuracies.

    PYTHONPATH=. .venv/bin/python bench/distinguishing_game.py [--games 2000] [--epsilon 1.0]

Prints the attacker's accuracy with every released cell of closed days, the bound
e^ε / (1 + e^ε), and the same attacker's accuracy with epsilon off (exact figures).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from starlette.testclient import TestClient

from pixelagg.config import load
from pixelagg.reports.noise import Budget
from pixelagg.web.app import create_app
from tests.helpers import AppClient, make_env
from tests.test_distinguishing_game import Attacker, _accuracy, _play_backdated


def play(epsilon: str, games: int, seed: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        env = make_env(Path(tmp), None, PIXELAGG_PRIVACY_EPSILON=epsilon)
        app = create_app(load(environ=env))
        with AppClient(app, client=("127.0.0.1", 50000)) as client:
            assert isinstance(client, TestClient)
            budget = None if epsilon == "off" else Budget(float(epsilon))
            return _accuracy(client, Attacker(budget), _play_backdated(client, games, random.Random(seed)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=2000)
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    bound = math.exp(args.epsilon) / (1 + math.exp(args.epsilon))
    accuracy = play(str(args.epsilon), args.games, args.seed)
    exact = play("off", min(args.games, 200), args.seed)
    print(
        f"epsilon {args.epsilon}: attacker accuracy {accuracy:.3f} over {args.games} games; bound {bound:.3f}"
    )
    print(f"epsilon off: the same attacker's accuracy {exact:.3f}")


if __name__ == "__main__":
    main()
