"""The etcd-like store of the embedded server: objects by resource, one global
resourceVersion, bounded history and the fan-out of watch events to subscribers.

Knows no kind: the registry above tells it what to keep.
"""
