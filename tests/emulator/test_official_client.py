"""The unmodified official Python client (``chartmogul`` 4.11) against today's dialect.

Only its base URL changes: ``chartmogul.Config`` builds every request from ``config.uri``
(a class attribute, ``https://api.chartmogul.com/v1``), so an instance attribute points one
config at the emulator. Where this client fails, the emulator is wrong: it was written
against the real service.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from cm_frames.emulator import Emulator

chartmogul = pytest.importorskip("chartmogul")


def config_for(emulator: Emulator, api_key: str | None = None) -> Any:
    config = chartmogul.Config(api_key or emulator.api_key)
    config.uri = emulator.url.rstrip("/")
    return config


@pytest.fixture
def config(current_emulator: Emulator) -> Any:
    return config_for(current_emulator)


def every_customer(config: Any, per_page: int) -> list[Any]:
    page = chartmogul.Customer.all(config, per_page=per_page).get()
    customers = list(page.entries)
    while page.has_more:
        page = chartmogul.Customer.all(config, cursor=page.cursor, per_page=per_page).get()
        customers += page.entries
    return customers


def test_version_is_the_one_written_for_todays_service() -> None:
    assert chartmogul.__version__.startswith("4.")


@pytest.mark.parametrize("per_page", [13, 200])
def test_walking_every_customer_by_cursor(config: Any, per_page: int) -> None:
    customers = every_customer(config, per_page)
    assert len({customer.uuid for customer in customers}) == len(customers) == 300
    leads = [customer for customer in customers if customer.customer_since is None]
    assert leads
    assert customers[-len(leads) :] == leads  # leads last, as documented
    dated = [customer.customer_since for customer in customers[: -len(leads)]]
    assert dated == sorted(dated)


def test_retrieve_with_mrr_and_todays_fields(config: Any) -> None:
    listed = chartmogul.Customer.all(config, per_page=1).get().entries[0]
    customer = chartmogul.Customer.retrieve(config, uuid=listed.uuid).get()
    assert (customer.uuid, customer.id, customer.name) == (listed.uuid, listed.id, listed.name)
    assert isinstance(customer.mrr, int)
    assert customer.arr == 12 * customer.mrr
    assert customer.currency_sign
    assert customer.chartmogul_url.startswith("https://app.chartmogul.com/#/customers/")
    assert hasattr(customer, "website_url")
    assert customer.address.country is None or len(customer.address.country) > 2


def test_search_by_email(config: Any) -> None:
    customers = every_customer(config, 200)
    target = next(customer for customer in customers if customer.email)
    found = chartmogul.Customer.search(config, email=target.email).get()
    assert target.uuid in {customer.uuid for customer in found.entries}
    assert found.has_more is False
    with pytest.raises(chartmogul.APIError) as raised:
        chartmogul.Customer.search(config, email="no@email.com").get()
    assert raised.value.__cause__.response.status_code == 404
    assert raised.value.__cause__.response.json()["param"] == "email"


def test_attributes_and_tags_by_uuid_and_by_email(config: Any) -> None:
    target = next(customer for customer in every_customer(config, 200) if customer.email)
    attributes = chartmogul.Attributes.retrieve(config, uuid=target.uuid).get()
    assert attributes.tags == target.attributes.tags
    assert attributes.custom == target.attributes.custom
    added = chartmogul.Tags.add(config, uuid=target.uuid, data={"tags": ["official"]}).get()
    assert added.tags == [*target.attributes.tags, "official"]
    removed = chartmogul.Tags.remove(config, uuid=target.uuid, data={"tags": ["official"]}).get()
    assert removed.tags == target.attributes.tags
    by_email = chartmogul.Tags.add_by_email(
        config, data={"email": target.email, "tags": ["mailed"]}
    ).get()
    assert all("mailed" in customer.attributes.tags for customer in by_email.entries)
    assert target.uuid in {customer.uuid for customer in by_email.entries}


def test_custom_attributes_by_uuid_and_by_email(config: Any) -> None:
    target = next(customer for customer in every_customer(config, 200) if customer.email)
    uuid = target.uuid
    added = chartmogul.CustomAttributes.add(
        config,
        uuid=uuid,
        data={
            "custom": [
                {"type": "String", "key": "channel", "value": "Facebook", "source": "crm"},
                {"type": "Timestamp", "key": "converted", "value": datetime(2015, 9, 8)},
            ]
        },
    ).get()
    assert added.custom["channel"] == "Facebook"
    assert added.custom["converted"] == "2015-09-08T00:00:00.000Z"
    updated = chartmogul.CustomAttributes.update(
        config, uuid=uuid, data={"custom": {"channel": "Twitter"}}
    ).get()
    assert updated.custom["channel"] == "Twitter"
    by_email = chartmogul.CustomAttributes.add_by_email(
        config,
        data={"email": target.email, "custom": [{"type": "Integer", "key": "age", "value": 8}]},
    ).get()
    assert all(customer.attributes.custom["age"] == 8 for customer in by_email.entries)
    removed = chartmogul.CustomAttributes.remove(
        config, uuid=uuid, data={"custom": ["channel"]}
    ).get()
    assert "channel" not in removed.custom
    rest = list(chartmogul.Attributes.retrieve(config, uuid=uuid).get().custom)
    # Every key gone: a 204, which the client reads as None.
    emptied = chartmogul.CustomAttributes.remove(config, uuid=uuid, data={"custom": rest}).get()
    assert emptied is None
    assert chartmogul.Attributes.retrieve(config, uuid=uuid).get().custom == {}


def test_a_wrong_key_is_refused(current_emulator: Emulator) -> None:
    wrong = config_for(current_emulator, "not-the-key")
    with pytest.raises(chartmogul.APIError, match="No valid API key provided") as raised:
        chartmogul.Customer.all(wrong, per_page=1).get()
    assert raised.value.__cause__.response.status_code == 401
