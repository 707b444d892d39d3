"""The ``kopf-informers`` command line: ``apiserver`` serves the embedded Kubernetes API server;
``demo`` runs the example operators on it."""

from __future__ import annotations

import argparse
import asyncio
import errno
import importlib.metadata
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import InvalidArgumentError

DISTRIBUTION = "kopf-informers"


def _version() -> str:
    """The installed distribution's version (the package's own when run from a bare source tree)."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        from . import __version__
        return __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kopf-informers", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    api = commands.add_parser(
        "apiserver",
        help="serve the embedded Kubernetes API server (a test double: no containers run)",
        description="Serve the embedded Kubernetes API server until SIGTERM or SIGINT. The "
        "server URL is the first line of stdout once it is ready. It keeps its state in "
        "memory only: a new run starts empty.",
    )
    # Each default is in its help, written out where "(default: None)" would say nothing.
    api.add_argument("--host", default="127.0.0.1",
                     help="address to listen on, loopback only unless --allow-remote "
                     "(default: %(default)s)")
    api.add_argument("--port", type=int, default=0,
                     help="port to listen on, 0 to 65535 (default: 0, a free port)")
    api.add_argument("--kubeconfig", default=None,
                     help="write a kubeconfig for this server here, in an existing directory "
                     "(default: a temporary file, removed at exit)")
    api.add_argument("--history", type=int, default=10_000,
                     help="watch events kept per resource for resumption (older: 410 Gone) "
                     "(default: %(default)s)")
    api.add_argument("--bookmark-interval", type=float, default=1.0,
                     help="seconds between watch BOOKMARK events (default: %(default)s)")
    api.add_argument("--no-simulation", action="store_true",
                     help="run no workload controllers: no ReplicaSets for Deployments, no "
                     "simulated Deployment/ReplicaSet/StatefulSet status (default: simulated)")
    api.add_argument("--simulate-pods", action="store_true",
                     help="let ReplicaSets, StatefulSets and Jobs create Pods that a simulated "
                     "node reports Running (no container runs) (default: no Pods)")
    api.add_argument("--pod-run-time", type=float, default=0.1,
                     help="seconds a simulated Pod that does not restart (a Job's) runs before "
                     "it Succeeds (default: %(default)s)")
    api.add_argument("--tls", action="store_true",
                     help="serve HTTPS only, with a CA made at start; the kubeconfig carries "
                     "the CA and an admin client certificate (default: plain HTTP)")
    api.add_argument("--rbac", action="store_true",
                     help="authenticate every request (401 for unknown tokens) and enforce "
                     "RBAC from Roles, ClusterRoles and bindings (default: everyone is admin)")
    api.add_argument("--anonymous-auth", action="store_true",
                     help="with --rbac, let requests without credentials in as "
                     "system:anonymous (default: 401)")
    api.add_argument("--token", action="append", default=[], metavar="TOKEN=USER[:GROUP,...]",
                     help="accept a static bearer token as USER in the GROUPs; repeatable "
                     "(default: none)")
    api.add_argument("--kubeconfig-for", action="append", default=[],
                     metavar="NAMESPACE/SERVICEACCOUNT=PATH",
                     help="at start, create the namespace and ServiceAccount if missing and "
                     "write a kubeconfig that acts as it to PATH; repeatable (default: none)")
    api.add_argument("--allow-remote", action="store_true",
                     help="allow a non-loopback --host; the server has no authentication "
                     "(default: loopback only)")
    demo = commands.add_parser(
        "demo",
        help="run the example operators on the embedded API server and show what they do",
        description="Start the embedded API server, apply the example CRDs, run the example "
        "operators with kopf run, and check step by step that they converge (owner watching, "
        "scaling, a cross-namespace mirror, dropped watches and 410 Gone); exit 0 when every "
        "step did. Needs no cluster.",
    )
    demo.add_argument("--keep", action="store_true",
                      help="leave the server and operators running afterwards, for kubectl "
                      "(default: stop them)")
    demo.add_argument("--operators", default=None,
                      help="the directory of the example operators and their CRDs (default: "
                      "operators/ of the clone this runs from)")
    return parser


async def _serve(args: argparse.Namespace) -> None:
    from .testing import EmbeddedApiServer
    from .testing.apiserver._server import is_loopback

    server = EmbeddedApiServer(
        host=args.host, port=args.port, kubeconfig=args.kubeconfig, history=args.history,
        bookmark_interval=args.bookmark_interval, simulate_workloads=not args.no_simulation,
        simulate_pods=args.simulate_pods, pod_run_time=args.pod_run_time,
        allow_remote=args.allow_remote, tls=args.tls, rbac=args.rbac,
        anonymous=args.anonymous_auth,
    )
    for spec in args.token:
        token, _, who = spec.partition("=")
        user, _, groups = who.partition(":")
        if not token or not user:
            raise InvalidArgumentError(f"--token wants TOKEN=USER[:GROUP,...], got {spec!r}")
        server.add_token(token, user, tuple(g for g in groups.split(",") if g))
    wanted = [_kubeconfig_for_spec(spec) for spec in args.kubeconfig_for]
    if not is_loopback(args.host):
        # Said before listening: from then on, anyone who reaches the port owns the server.
        what = ("the server authenticates with RBAC, but runs on a test double's defaults"
                if args.rbac else "the server has no authentication (no --rbac), so every "
                "client that reaches it has full access")
        print(f"kopf-informers: warning: serving on {args.host} with --allow-remote: {what}",
              file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await server.astart()
    try:
        for namespace, account, path in wanted:
            _ensure_serviceaccount(server, namespace, account)  # on this loop: the server's
            server.kubeconfig_for(namespace, account, path=path)
        print(server.url, flush=True)
        print(f"kubeconfig: {server.kubeconfig}\n"
              f"try: kubectl --kubeconfig {server.kubeconfig} get namespaces",
              file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        await server.astop()


def _kubeconfig_for_spec(spec: str) -> tuple[str, str, Path]:
    account, _, path = spec.partition("=")
    namespace, _, name = account.partition("/")
    if not namespace or not name or not path or not Path(path).parent.is_dir():
        raise InvalidArgumentError(
            f"--kubeconfig-for wants NAMESPACE/SERVICEACCOUNT=PATH in an existing directory, "
            f"got {spec!r}")
    return namespace, name, Path(path)


def _ensure_serviceaccount(server: Any, namespace: str, name: str) -> None:
    core = server.core
    for key, ns, obj_name in ((("", "namespaces"), None, namespace),
                              (("", "serviceaccounts"), namespace, name)):
        info = core.storage_info(key)
        if core.store.resource(key).get(ns or "", obj_name) is None:
            core.create(info, ns, {"metadata": {"name": obj_name}})


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from ._demo import Demo, default_operators_dir
        operators = default_operators_dir() if args.operators is None else Path(args.operators)
        return Demo(operators=operators, keep=args.keep).run()
    try:
        if args.command == "apiserver":
            asyncio.run(_serve(args))
    except InvalidArgumentError as e:
        print(f"kopf-informers: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            host = f"[{args.host}]" if ":" in args.host else args.host
            print(f"kopf-informers: cannot listen on {host}:{args.port}: the address is already "
                  f"in use (another server?); choose another --port, or 0 for a free one",
                  file=sys.stderr)
        else:
            print(f"kopf-informers: cannot serve: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
