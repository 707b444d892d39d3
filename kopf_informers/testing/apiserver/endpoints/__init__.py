"""The HTTP face of the embedded server, as k8s.io/apiserver's ``endpoints``:
request info, handlers, watch streams, Tables, discovery and OpenAPI, the request journal and
fault injection (with their ``/_embedded/`` endpoint), the listener.

Built from what it reads (the registry's core, the journal, the faults, settings), not from the
server object that owns them.
"""
