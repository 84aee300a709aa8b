"""Targets: the URL patterns of operations, and finding connectors by name."""

from __future__ import annotations

import httpx
import pytest

from fiscus_dsl import BasicAuth, Connector, Secret
from fiscus_dsl._connectors.connector import live_connectors
from fiscus_dsl.testing.targets import (
    named_target,
    route_target,
    task_target,
    url_pattern,
)

from . import apis


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("https://crm.kit.test/v1/contacts/c1", {"contact_id": "c1"}),
        ("https://crm.kit.test/v1/contacts/a%2Fb?x=1", {"contact_id": "a%2Fb"}),
        ("https://crm.kit.test/v1/contacts/c1/", None),
        ("https://crm.kit.test/v1/contacts/c1/notes", None),
        ("https://crm.kit.test/v2/contacts/c1", None),
        ("http://crm.kit.test/v1/contacts/c1", None),
        ("https://crm.kit.test:8443/v1/contacts/c1", None),
        ("https://other.test/v1/contacts/c1", None),
        ("https://crm.kit.test/v1/contacts/", None),
    ],
)
def test_a_pattern_matches_the_connector_host_base_path_and_any_value(
    url: str, params: dict[str, str] | None
) -> None:
    pattern = url_pattern(httpx.URL(apis.CRM_URL), "/v1/contacts/{contact_id}")

    match = pattern.match(url)

    assert (None if match is None else match.groupdict()) == params


def test_a_pattern_keeps_a_port_and_allows_the_auth_user() -> None:
    pattern = url_pattern(httpx.URL("http://localhost:8080/api"), "/api/ping")

    assert pattern.match("http://localhost:8080/api/ping")
    assert pattern.match("http://user:pw@localhost:8080/api/ping")
    assert not pattern.match("http://localhost/api/ping")


def test_a_pattern_escapes_the_literal_parts() -> None:
    pattern = url_pattern(httpx.URL("https://a.test"), "/v1.0/items(all)/{id}")

    assert pattern.match("https://a.test/v1.0/items(all)/7")
    assert not pattern.match("https://a.test/v1x0/items(all)/7")


def test_a_parameter_used_twice_must_have_the_same_value_twice() -> None:
    pattern = url_pattern(httpx.URL("https://a.test"), "/pairs/{id}/{id}")

    assert pattern.match("https://a.test/pairs/7/7")
    assert not pattern.match("https://a.test/pairs/7/8")


def test_a_target_describes_itself_without_credentials() -> None:
    api = Connector(
        "KitSecretBase",
        "https://user:pw@secret.kit.test/v1",
        auth=BasicAuth("user", Secret("pw")),
    )

    target = route_target(api, "GET /items/{id}")

    assert (
        target.describe() == "GET https://secret.kit.test/v1/items/{id} (KitSecretBase)"
    )
    assert target.label == "KitSecretBase"
    assert target.operation is None
    assert target.path_params(httpx.Request("GET", "https://elsewhere.test")) == {}


def test_specificity_puts_fewer_parameters_then_longer_literals_first() -> None:
    me = task_target(apis.get_me)
    by_id = task_target(apis.get_contact)
    link = task_target(apis.link_contacts)
    search = task_target(apis.find_contacts)

    assert sorted([link, by_id, me, search], key=lambda t: t.specificity) == [
        me,
        search,
        by_id,
        link,
    ]


def test_live_connectors_finds_every_connector_by_name() -> None:
    local = Connector("KitLocal", "https://local.kit.test")

    names = [connector.name for connector in live_connectors()]

    assert local in live_connectors()
    assert names == sorted(names)
    assert {"KitCRM", "KitMail", "KitLocal"} <= set(names)


def test_a_named_target_is_the_task_target() -> None:
    assert named_target("KitCRM", "get_contact") == task_target(apis.get_contact)


def test_a_connector_whose_tasks_are_all_hand_written_has_no_operations() -> None:
    api = Connector("KitHandMade", "https://hand.kit.test")

    @api.task
    async def ping(client: httpx.AsyncClient) -> int:
        return 1

    with pytest.raises(LookupError, match="has no operation 'ping'; its operations"):
        named_target("KitHandMade", "ping")
