"""The cluster's controllers the embedded server runs in-process: garbage
collection by ownerReferences, namespace and CRD termination, CRDs becoming served, and the
(clearly labelled) simulated workload controllers (``_deployments``, ``_statefulsets``,
``_jobs``) and kubelet (``_kubelet``), sharing ``_objects``.

A client of the registry, as kube-controller-manager is a client of the API.
"""
