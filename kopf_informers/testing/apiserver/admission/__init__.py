"""What a write must pass before it is stored: object metadata, built-ins' types (their real
schemas: unknown fields and wrong types, ``_builtin_schemas`` and ``_typed_decoding``), CRD
structural schemas (defaulting, pruning, validation), the CRD object itself, and the admission
chain (NamespaceLifecycle so far; where admission webhooks and RBAC will plug in too).
Called by the registry; imports only storage and apimachinery.
"""
