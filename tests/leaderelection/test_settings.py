"""Leader election's settings in Kopf: configure() over the environment, the Lease's default
name and namespace, the replica's identity."""

from __future__ import annotations

from pathlib import Path

import pytest

from kopf_informers._ha import Options, default_id, make_identity, resolve, user_agent
from kopf_informers.errors import InvalidArgumentError

NOWHERE = Path("/nonexistent/serviceaccount/namespace")


def test_it_is_off_unless_asked_for() -> None:
    assert resolve(Options(), controllers=["foo"], environ={}, sa_namespace=NOWHERE) is None
    env = {"KOPF_INFORMERS_LEADER_ELECTION": "false"}
    assert resolve(Options(), controllers=["foo"], environ=env, sa_namespace=NOWHERE) is None


def test_the_environment_turns_it_on_with_client_gos_durations() -> None:
    env = {"KOPF_INFORMERS_LEADER_ELECTION": "true",
           "KOPF_INFORMERS_LEADER_ELECTION_NAMESPACE": "ops", "HOSTNAME": "foo-7d9f-x2x"}
    settings = resolve(Options(), controllers=["foo"], environ=env, sa_namespace=NOWHERE)
    assert settings is not None
    config = settings.config
    assert (config.name, config.namespace) == ("kopf-informers-foo", "ops")
    assert (config.lease_duration, config.renew_deadline, config.retry_period) == (15, 10, 2)
    assert config.identity.startswith("foo-7d9f-x2x_")
    assert settings.warm_standby


def test_configure_wins_over_the_environment() -> None:
    env = {"KOPF_INFORMERS_LEADER_ELECTION": "false",
           "KOPF_INFORMERS_LEADER_ELECTION_ID": "from-env",
           "KOPF_INFORMERS_LEADER_ELECTION_RETRY_PERIOD": "1"}
    options = Options(enabled=True, id="mine", namespace="ns", lease_duration=6,
                      renew_deadline=4, warm_standby=False)
    settings = resolve(options, controllers=[], environ=env, sa_namespace=NOWHERE)
    assert settings is not None
    config = settings.config
    assert (config.name, config.lease_duration, config.renew_deadline,
            config.retry_period) == ("mine", 6, 4, 1)
    assert not settings.warm_standby


def test_the_namespace_defaults_to_the_pods_own(tmp_path: Path) -> None:
    namespace_file = tmp_path / "namespace"
    namespace_file.write_text("operators\n")
    settings = resolve(Options(enabled=True), controllers=["foo"], environ={},
                       sa_namespace=namespace_file)
    assert settings is not None
    assert settings.config.namespace == "operators"


def test_without_a_namespace_outside_a_pod_the_error_says_what_to_set() -> None:
    with pytest.raises(InvalidArgumentError, match="KOPF_INFORMERS_LEADER_ELECTION_NAMESPACE"):
        resolve(Options(enabled=True), controllers=["foo"], environ={}, sa_namespace=NOWHERE)


@pytest.mark.parametrize("env", [
    pytest.param({"KOPF_INFORMERS_LEADER_ELECTION": "maybe"}, id="flag"),
    pytest.param({"KOPF_INFORMERS_LEADER_ELECTION": "1",
                  "KOPF_INFORMERS_LEADER_ELECTION_LEASE_DURATION": "long"}, id="seconds"),
    pytest.param({"KOPF_INFORMERS_LEADER_ELECTION": "on",
                  "KOPF_INFORMERS_LEADER_ELECTION_RENEW_DEADLINE": "20"}, id="renew>lease"),
])
def test_malformed_settings_are_refused(env: dict[str, str]) -> None:
    env = {**env, "KOPF_INFORMERS_LEADER_ELECTION_NAMESPACE": "ns"}
    with pytest.raises(InvalidArgumentError):
        resolve(Options(), controllers=["foo"], environ=env, sa_namespace=NOWHERE)


def test_the_default_id_is_stable_and_names_the_controllers() -> None:
    assert default_id(["foo"]) == "kopf-informers-foo"
    assert default_id(["b.Reconcile_B", "a"]) == default_id(["a", "b.Reconcile_B"])
    assert default_id(["a", "b.Reconcile_B"]) == "kopf-informers-a-b.reconcile-b"
    long = default_id([f"operators.module_{i}.reconcile" for i in range(9)])
    assert len(long) <= 63
    assert long.startswith("kopf-informers-operators.module-0")
    assert long != default_id([f"operators.module_{i}.reconcile" for i in range(10)])


def test_an_operator_without_controllers_must_name_its_lease() -> None:
    with pytest.raises(InvalidArgumentError, match="KOPF_INFORMERS_LEADER_ELECTION_ID"):
        default_id([])


def test_the_identity_is_the_pod_name_and_a_random_suffix() -> None:
    first = make_identity({"POD_NAME": "foo-0", "HOSTNAME": "ignored"})
    second = make_identity({"POD_NAME": "foo-0"})
    assert first.startswith("foo-0_")
    assert second.startswith("foo-0_")
    assert first != second
    assert make_identity({"HOSTNAME": "host"}).startswith("host_")


def test_the_user_agent_names_the_replica() -> None:
    assert user_agent("foo-0_123").startswith("kopf-informers/")
    assert user_agent("foo-0_123").endswith(" (foo-0_123)")
