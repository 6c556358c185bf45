"""ktui: scale ML experiments onto Kubernetes and watch them from one keyboard."""

import logging

__version__ = "0.1.0"

# The layers log what they retry and why; what the user must know reaches them as a store
# problem, said once by the CLI or the header. Without a handler here Python's last-resort
# handler printed every warning to stderr: the same 403 twice more in `ktui jobs`, and text
# over the UI's screen. Processes that want the log (the queue runner, the simulator)
# configure logging themselves.
logging.getLogger(__name__).addHandler(logging.NullHandler())
