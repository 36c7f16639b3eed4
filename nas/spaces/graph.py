"""Macro, complex: branches and skip connections. Each layer chooses which earlier outputs
(the stem included) feed it; their concatenation is its input. Outputs that no later layer uses
are concatenated into the body's output, so unused paths become parallel branches."""

from __future__ import annotations

from nas.encoding import Architecture, Choice
from nas.spaces import ops
from nas.spaces.base import SearchSpace
from nas.spaces.chain import active_up_to_depth, layer_choices


def _sources(i: int) -> list[str]:
    return ["s"] + [str(j) for j in range(i)]


class GraphSpace(SearchSpace):
    """The graph space: layers whose inputs are chosen among earlier outputs (see the module's
    docstring)."""

    name = "graph"
    max_layers = 4

    def architecture_choices(self) -> list[Choice]:
        choices = [Choice("depth", tuple(range(1, self.max_layers + 1)))]
        for i in range(self.max_layers):
            choices += layer_choices(i, self.kind)
            choices += [Choice(f"in_{i}_{src}", (0, 1)) for src in _sources(i)]
        return choices

    @staticmethod
    def feeds(arch: Architecture, i: int) -> list[str]:
        """The sources feeding layer i: chosen ones, else the previous layer (or the stem)."""
        chosen = [src for src in _sources(i) if arch.choices[f"in_{i}_{src}"]]
        return chosen or [_sources(i)[-1]]

    def active(self, arch: Architecture) -> list[str]:
        """As in the chain, less a layer's link to the output just before it while it chooses
        no other source: `feeds` falls back to that output either way (layer 0's only one)."""
        c, fallback = arch.choices, set()
        for i in range(c["depth"]):
            *others, last = _sources(i)
            if not any(c[f"in_{i}_{src}"] for src in others):
                fallback.add(f"in_{i}_{last}")
        return [name for name in active_up_to_depth(self, arch) if name not in fallback]

    def describe(self, arch: Architecture) -> str:
        c = arch.choices
        layers = "; ".join(
            f"{i}:{c[f'op_{i}']}{'' if c[f'op_{i}'] == 'identity' else c[f'width_{i}']}"
            f"<-{','.join(self.feeds(arch, i))}"
            for i in range(c["depth"])
        )
        return f"{layers} | {super().describe(arch)}"

    def body(self, x, kind, arch, fidelity, seeds, prefix):
        c = arch.choices
        outs, used = {"s": x}, set()
        for i in range(c["depth"]):
            srcs = self.feeds(arch, i)
            used.update(srcs)
            h = ops.concat([outs[s] for s in srcs], f"{prefix}layer{i}_in")
            outs[str(i)] = ops.layer(h, kind, c, i, fidelity, prefix, seeds)
        loose = [outs[str(i)] for i in range(c["depth"]) if str(i) not in used]
        return ops.concat(loose, f"{prefix}branches")
