"""An in-process Kubernetes API server simulator (in the spirit of kwok).

It serves real HTTP on 127.0.0.1 with aiohttp: core/v1 namespaces, nodes, pods (+log) and
events, batch/v1 jobs and metrics.k8s.io, plus simulated controllers (job controller,
scheduler, kubelets, garbage collector) so that Jobs run to completion like on a cluster.

Entry points: `ktui sim` (ktui/cli/sim.py) and `ktui.sim.testing.running_sim` for tests.
"""

from ktui.sim.config import SimConfig

__all__ = ["SimConfig"]
