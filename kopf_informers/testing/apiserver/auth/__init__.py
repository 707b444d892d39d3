"""Who is asking, and whether they may: the server's authenticator and its one authorizer.

kube-apiserver authenticates every request into a ``user.Info`` and asks its authorizer chain
whether that user may do what the request does; the review APIs (``SelfSubjectAccessReview``,
``SelfSubjectRulesReview``, ``SelfSubjectReview``, ``TokenReview``) ask the same two questions on
a client's behalf. Here too: ``_user.Authenticator`` answers the first (tokens, client
certificates from ``_tls``' CA, anonymous), an ``_authorizer.Authorizer`` the second
(``AlwaysAllow``, or ``_rbac.RbacAuthorizer`` with ``rbac=True``), and both the reviews
(``registry/_reviews``) and the HTTP layer (before any handler: 401, then 403) ask them.
Imports only apimachinery and storage (the RBAC objects and ServiceAccounts it reads).
"""
