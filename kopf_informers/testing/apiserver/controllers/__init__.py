"""The cluster's controllers the embedded server runs in-process: garbage
collection by ownerReferences, namespace and CRD termination, CRDs becoming served, and the
(clearly labelled) workload simulation.

A client of the registry, as kube-controller-manager is a client of the API.
"""
