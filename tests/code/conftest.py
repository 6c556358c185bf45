from tests.cluster.conftest import backend_factory, sim  # noqa: F401  (the simulator fixtures)
