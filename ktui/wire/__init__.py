"""What ktui agrees with the cluster and with itself across processes: the label and
annotation names it writes on Jobs (and reads back, in any backend and in the simulator),
the metric annotation's grammar, resource quantities, and kubectl's duration wording.
Pure and dependency-free, the bottom of the package: the sweep layer, the cluster layer
and the simulator import it.
"""
