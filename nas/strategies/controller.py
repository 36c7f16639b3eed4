"""An RNN controller in numpy (Zoph & Le, 2017; ENAS): it emits an architecture as a token
sequence, one token per choice, and learns with REINFORCE.

    h_t = tanh(Wx x_t + Wh h_{t-1} + b),   p_t = softmax(U_t h_t + c_t)

x_0 is a learned start vector, x_t the embedding of token t-1. The update ascends
(R - baseline) * sum_t log p_t(a_t) + entropy_weight * sum_t H(p_t), with an exponential moving
average of rewards as the baseline, through back-propagation through time and Adam.
Output layers start at zero, so every token starts at probability 1/|V|.
State is plain lists, so it round-trips through KerasTuner's JSON oracle state.
"""

from __future__ import annotations

import numpy as np


class Controller:
    """The RNN controller (see the module's docstring): `sample` draws tokens, `update` learns
    from a reward, `get_state` / `set_state` round-trip through JSON."""

    def __init__(
        self,
        vocab_sizes: list[int],
        hidden: int = 32,
        lr: float = 0.05,
        entropy_weight: float = 1e-3,
        baseline_decay: float = 0.9,
        seed: int = 0,
    ):
        self.vocab_sizes = list(vocab_sizes)
        self.hidden = hidden
        self.lr, self.entropy_weight, self.baseline_decay = lr, entropy_weight, baseline_decay
        rng = np.random.default_rng(seed)
        h = hidden
        self.params = {
            "start": rng.normal(0, 0.1, h),
            "Wx": rng.normal(0, 1 / np.sqrt(h), (h, h)),
            "Wh": rng.normal(0, 1 / np.sqrt(h), (h, h)),
            "b": np.zeros(h),
        }
        for t, v in enumerate(self.vocab_sizes):
            self.params[f"E{t}"] = rng.normal(0, 0.1, (v, h))
            self.params[f"U{t}"] = np.zeros((v, h))
            self.params[f"c{t}"] = np.zeros(v)
        self.m = {k: np.zeros_like(p) for k, p in self.params.items()}
        self.v = {k: np.zeros_like(p) for k, p in self.params.items()}
        self.step = 0
        self.baseline = None

    # ---- forward --------------------------------------------------------------------------
    def _forward(self, tokens=None, rng=None):
        """Run the controller; sample tokens when `tokens` is None. Returns tokens and cache."""
        p = self.params
        h = np.zeros(self.hidden)
        x = p["start"]
        out, cache = [], []
        for t, _ in enumerate(self.vocab_sizes):
            h_prev = h
            h = np.tanh(p["Wx"] @ x + p["Wh"] @ h_prev + p["b"])
            logits = p[f"U{t}"] @ h + p[f"c{t}"]
            probs = np.exp(logits - logits.max())
            probs /= probs.sum()
            a = int(rng.choice(len(probs), p=probs)) if tokens is None else int(tokens[t])
            cache.append((x, h_prev, h, probs, a))
            out.append(a)
            x = p[f"E{t}"][a]
        return out, cache

    def sample(self, rng: np.random.Generator) -> list[int]:
        return self._forward(rng=rng)[0]

    def probabilities(self, tokens: list[int]) -> list[np.ndarray]:
        """The distribution at each step when the given tokens are fed back in."""
        return [c[3] for c in self._forward(tokens=tokens)[1]]

    # ---- learning -------------------------------------------------------------------------
    def update(self, tokens: list[int], reward: float) -> float:
        """One REINFORCE step for a sampled sequence and its reward. Returns the advantage."""
        if self.baseline is None:
            self.baseline = reward
        advantage = reward - self.baseline
        self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * reward
        _, cache = self._forward(tokens=tokens)
        p = self.params
        grads = {k: np.zeros_like(v) for k, v in p.items()}
        dh_next = np.zeros(self.hidden)
        for t in reversed(range(len(cache))):
            x, h_prev, h, probs, a = cache[t]
            onehot = np.zeros_like(probs)
            onehot[a] = 1.0
            logp = np.log(probs + 1e-12)
            entropy = -(probs * logp).sum()
            # d/dlogits of advantage * log p(a) + entropy_weight * H(p)
            g = advantage * (onehot - probs) - self.entropy_weight * probs * (logp + entropy)
            grads[f"U{t}"] += np.outer(g, h)
            grads[f"c{t}"] += g
            dh = p[f"U{t}"].T @ g + dh_next
            dz = dh * (1 - h * h)
            grads["Wx"] += np.outer(dz, x)
            grads["Wh"] += np.outer(dz, h_prev)
            grads["b"] += dz
            dx = p["Wx"].T @ dz
            if t == 0:
                grads["start"] += dx
            else:
                grads[f"E{t - 1}"][cache[t - 1][4]] += dx
            dh_next = p["Wh"].T @ dz
        self._adam(grads)
        return advantage

    def _adam(self, grads, b1=0.9, b2=0.999, eps=1e-8):
        self.step += 1
        for k, g in grads.items():
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
            m_hat = self.m[k] / (1 - b1**self.step)
            v_hat = self.v[k] / (1 - b2**self.step)
            self.params[k] += self.lr * m_hat / (np.sqrt(v_hat) + eps)  # ascent

    # ---- state ----------------------------------------------------------------------------
    def get_state(self) -> dict:
        def lists(d):
            return {k: v.tolist() for k, v in d.items()}

        return {
            "params": lists(self.params),
            "m": lists(self.m),
            "v": lists(self.v),
            "step": self.step,
            "baseline": self.baseline,
        }

    def set_state(self, state: dict) -> None:
        def arrays(d):
            return {k: np.asarray(v, dtype=float) for k, v in d.items()}

        self.params, self.m, self.v = (arrays(state[k]) for k in ("params", "m", "v"))
        self.step, self.baseline = state["step"], state["baseline"]
