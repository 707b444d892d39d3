"""What a write must pass before it is stored: object metadata, CRD structural
schemas (defaulting, pruning, validation), the CRD object itself, and the admission chain
(NamespaceLifecycle so far; where admission webhooks and RBAC will plug in too).
Called by the registry; imports only storage and apimachinery.
"""
