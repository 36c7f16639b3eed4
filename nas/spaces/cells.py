"""Micro, cell-based: a normal cell and a reduction cell, each a small DAG whose nodes choose
two inputs and an op for each. Cells are stacked `cells` times (a reduction cell between
normal ones) between a stem and the head. `cells` and `filters` are knobs in the encoding.

A node's inputs index [cell input k-2, cell input k-1, node 0, node 1, ...]; its output is the
sum of its two ops. The cell's output is the concatenation of nodes no other node uses,
projected back to the cell's width. A reduction cell applies stride 2 to the cell inputs
(tensor features) and doubles the width.
"""

from __future__ import annotations

import keras

from nas.encoding import Choice
from nas.spaces import ops
from nas.spaces.base import SearchSpace

NODES = 3
CELL_TYPES = ("normal", "reduce")


class CellSpace(SearchSpace):
    """The cell-based space (see the module's docstring)."""

    name = "cells"

    def architecture_choices(self) -> list[Choice]:
        choices = [Choice("cells", (1, 2, 3)), Choice("filters", (8, 16, 32))]
        for t in CELL_TYPES:
            for k in range(NODES):
                choices += [
                    Choice(f"{t}_{k}_in_a", tuple(range(k + 2))),
                    Choice(f"{t}_{k}_op_a", ops.ops_for(self.kind)),
                    Choice(f"{t}_{k}_in_b", tuple(range(k + 2))),
                    Choice(f"{t}_{k}_op_b", ops.ops_for(self.kind)),
                ]
        return choices

    def active(self, arch) -> list[str]:
        """With one cell there is no reduction cell, so its genes do nothing."""
        names = [c.name for c in self.choices()]
        if arch.choices["cells"] == 1:
            names = [n for n in names if not n.startswith("reduce_")]
        return names

    def describe(self, arch) -> str:
        c = arch.choices
        cells = []
        for t in CELL_TYPES:
            nodes = ",".join(
                f"{c[f'{t}_{k}_op_a']}({c[f'{t}_{k}_in_a']})+{c[f'{t}_{k}_op_b']}({c[f'{t}_{k}_in_b']})"
                for k in range(NODES)
            )
            cells.append(f"{t}[{nodes}]")
        head = f"cells={c['cells']} filters={c['filters']}"
        return f"{head} {' '.join(cells)} | {super().describe(arch)}"

    def _cell(self, kind, prev2, prev1, arch, cell_type, width, seeds, name):
        norm = "none" if kind == "vector" else "batch"
        stride0 = 1
        if ops.spatial(prev2) != ops.spatial(prev1):
            stride0 = 2  # prev2 comes from before a reduction
        states = [
            ops.project(prev2, kind, width, f"{name}_pre0", seeds, stride0),
            ops.project(prev1, kind, width, f"{name}_pre1", seeds),
        ]
        reduce = cell_type == "reduce" and kind != "vector" and max(ops.spatial(prev1)) > 1
        used = set()
        for k in range(NODES):
            branch = []
            for side in ("a", "b"):
                src = arch.choices[f"{cell_type}_{k}_in_{side}"]
                used.add(src)
                branch.append(
                    ops.apply(
                        states[src],
                        kind,
                        arch.choices[f"{cell_type}_{k}_op_{side}"],
                        width,
                        name=f"{name}_n{k}{side}",
                        seeds=seeds,
                        norm=norm,
                        stride=2 if reduce and src < 2 else 1,
                    )
                )
            states.append(keras.layers.Add(name=f"{name}_n{k}")(branch))
        loose = [states[i] for i in range(2, len(states)) if i not in used]
        out = ops.concat(loose, f"{name}_cat")
        return ops.project(out, kind, width, f"{name}_out", seeds)

    def body(self, x, kind, arch, fidelity, seeds, prefix):
        c = arch.choices
        width = fidelity.scale(c["filters"])
        n_cells = max(1, c["cells"] - fidelity.fewer_cells)
        stem = ops.project(x, kind, width, f"{prefix}stem", seeds)
        prev2 = prev1 = stem
        for i in range(n_cells):
            out = self._cell(kind, prev2, prev1, arch, "normal", width, seeds, f"{prefix}cell{i}")
            prev2, prev1 = prev1, out
            if i < n_cells - 1:
                width *= 2
                out = self._cell(
                    kind, prev2, prev1, arch, "reduce", width, seeds, f"{prefix}reduce{i}"
                )
                prev2, prev1 = prev1, out
        return prev1
