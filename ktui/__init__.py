"""ktui: scale ML experiments onto Kubernetes and watch them from one keyboard."""

__version__ = "0.1.0"
