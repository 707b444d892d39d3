"""Shared vocabulary of the embedded server, as k8s.io/apimachinery: ``Status`` errors,
field errors and their Go wording, names, the media types of request bodies and their decoding
within limits, JSONPath.

The bottom layer: it imports no other part of the server.
"""
