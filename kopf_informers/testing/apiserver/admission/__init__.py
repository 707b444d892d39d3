"""What a write must pass before it is stored: object metadata, CRD structural
schemas (defaulting, pruning, validation) and the CRD object itself.

Where namespace lifecycle, admission webhooks and RBAC will plug in. Called by the registry;
imports only storage and apimachinery.
"""
