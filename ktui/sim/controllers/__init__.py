"""Simulated kube-controller-manager controllers (job, garbage collector, namespace)."""
