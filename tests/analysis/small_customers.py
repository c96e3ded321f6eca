"""Hand-checked customers in the API's wire format, shared by the segment and plot tests.

Built through ``customers_to_frame`` by the tests, so the frames have the real Arrow dtypes
(nullable int64, Arrow bool with nulls, dictionary status, UTC timestamps).
"""

from __future__ import annotations

from typing import Any


def customer(
    cid: int,
    since: str,
    status: str,
    *,
    tags: list[str] | None = None,
    custom: dict[str, Any] | None = None,
    clearbit: dict[str, Any] | None = None,
    country: str | None = "US",
) -> dict[str, Any]:
    return {
        "id": cid,
        "uuid": f"cus_{cid}",
        "external_id": str(cid),
        "email": f"c{cid}@example.com",
        "name": f"Customer {cid}",
        "address": {
            "address_line1": None,
            "address_line2": None,
            "address_zip": None,
            "city": None,
            "country": country,
            "state": None,
        },
        "customer-since": since,
        "status": status,
        "attributes": {
            "tags": tags or [],
            "custom": custom or {},
            "stripe": {},
            "clearbit": clearbit or {},
        },
    }


SMALL = [
    customer(
        1,
        "2021-01-15T10:00:00Z",
        "Active",
        tags=["vip", "eu"],
        custom={"seats": 5, "pro": True, "plan": "Pro", "renewal": "2024-01-01T00:00:00Z"},
        clearbit={"metrics": {"employees": 10}},
    ),
    # 00:30 at +01:00 is still January in UTC
    customer(
        2,
        "2021-02-01T00:30:00+01:00",
        "Active",
        tags=["eu"],
        custom={"seats": 50, "pro": False, "plan": "Growth"},
        clearbit={"metrics": {"employees": 2000}},
        country="DE",
    ),
    customer(
        3,
        "2021-04-10T08:00:00Z",
        "Cancelled",
        custom={"seats": 500, "plan": "Pro"},
        clearbit={"metrics": {"employees": None}},
        country="",
    ),
    customer(4, "2022-07-01T00:00:00Z", "Trial", tags=["at risk", "vip"], country=None),
    # 23:00 at -02:00 is April 1st in UTC: the second quarter
    customer(
        5,
        "2021-03-31T23:00:00-02:00",
        "Lead",
        tags=["vip"],
        custom={"pro": True, "seats": 20},
        clearbit={"metrics": {"employees": 1500}},
    ),
    customer(6, "2020-12-31T23:59:59Z", "Active"),
]
