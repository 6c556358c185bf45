"""The Kubernetes backend: the official client for config/auth/TLS, msgspec for the bytes."""
