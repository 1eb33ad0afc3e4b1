"""The game core: pure numpy, no Ray, no torch.

Stable public API:

    from stackray.game import GameConfig, play, predict
    result = play(phi, oracle, GameConfig(strategy="llf", beta=0.1), mask=None)
    y_hat = predict(result.theta, phi_eval, mask=None)
"""

from stackray.game.config import STRATEGIES, GameConfig
from stackray.game.follower import Confidence, WindowAssessment, assess, confidence, supervised_pairs
from stackray.game.gates import Gate, make_gate
from stackray.game.leader import Leader, LeaderSnapshot
from stackray.game.play import Game, GameResult, check_features, play, predict

__all__ = [
    "STRATEGIES", "GameConfig", "GameResult", "Game", "play", "predict", "check_features",
    "Leader", "LeaderSnapshot", "assess", "confidence", "Confidence", "supervised_pairs", "WindowAssessment", "Gate", "make_gate",
]
