"""Who is asking, and whether they may: the server's authenticator and its one authorizer.

kube-apiserver authenticates every request into a ``user.Info`` and asks its authorizer chain
whether that user may do what the request does; the review APIs (``SelfSubjectAccessReview``,
``SelfSubjectRulesReview``, ``SelfSubjectReview``, ``TokenReview``) ask the same two questions on
a client's behalf. Here too: :class:`Authenticator` answers the first, an :class:`Authorizer`
the second, and both the reviews (``registry/_reviews``) and, once there is RBAC, the HTTP layer
ask them. Imports only apimachinery.
"""
