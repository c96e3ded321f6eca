"""The server as a test sees it, in either API dialect: one place for the wire format.

Tests that talk to the emulator directly (to set a colleague's change up, to check what
landed, to predict the paths of the client's requests) go through ``ApiSession`` instead of
writing the reference's wire format down: the reference addresses a customer by numeric id
and wraps the attributes answer (``{"attributes": {...}}``); today's API addresses it by
uuid, answers the attributes unwrapped and pages by cursor.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

import requests

from cm_frames.emulator import Emulator


class ApiSession(requests.Session):
    """A requests session with a base URL (``api.get("customers")``) and a dialect.

    ``customer_path(id)`` is the path the client of ``dialect`` writes for a customer (the
    numeric id in the reference's, the uuid in today's), ``attributes(id)`` the customer's
    attributes unwrapped, ``customers()`` every customer of the account in the list's order,
    ``customer_id(ref)`` the id a path's reference names.
    """

    def __init__(
        self, base_url: str, auth: tuple[str, str] | None, dialect: str = "enrichment"
    ) -> None:
        super().__init__()
        self.base_url = base_url
        self.auth = auth
        self.dialect = dialect
        self._uuids: dict[int, str] | None = None

    @classmethod
    def of(cls, emulator: Emulator) -> ApiSession:
        """A session of the emulator's main account, in the emulator's dialect."""
        dialect = "current" if emulator.dialect == "current" else "enrichment"
        return cls(emulator.url, (emulator.token, emulator.secret), dialect)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        return super().request(method, urljoin(self.base_url, str(url)), *args, **kwargs)

    def customers(self) -> list[dict[str, Any]]:
        """Every customer of the account, in the list's order (pages or a cursor walk)."""
        entries: list[dict[str, Any]] = []
        params: dict[str, Any] = {"per_page": 200}
        if self.dialect != "current":
            params["page"] = 1
        while True:
            response = self.get("customers", params=params)
            response.raise_for_status()
            body = response.json()
            entries += body["entries"]
            if not body.get("has_more"):
                break
            if self.dialect == "current":
                params["cursor"] = body["cursor"]
            else:
                params["page"] += 1
        self._uuids = {int(c["id"]): str(c["uuid"]) for c in entries}
        return entries

    def learn_uuids(self) -> None:
        """Walk the account once for the uuid of every customer id (``uuid`` remembers them)."""
        self.customers()

    def uuid(self, customer_id: int) -> str:
        """The uuid of a customer id; an id the account does not have stays its own text.

        That text names a customer unknown to the server, as the id did: the server answers
        404 for it in either dialect.
        """
        if self._uuids is None:
            self.learn_uuids()
        assert self._uuids is not None
        return self._uuids.get(int(customer_id), str(customer_id))

    def customer_path(self, customer_id: int) -> str:
        """``customers/<ref>``: the customer as the client of this dialect addresses it."""
        if self.dialect == "current":
            return f"customers/{self.uuid(customer_id)}"
        return f"customers/{customer_id}"

    def customer_id(self, ref: str) -> int:
        """The customer id a path names (``ref``: the id, or a uuid ``customer_path`` wrote)."""
        if ref.isdigit():
            return int(ref)
        if self._uuids is None or ref not in self._uuids.values():
            self.learn_uuids()
        assert self._uuids is not None
        return next(c for c, uuid in self._uuids.items() if uuid == ref)

    def attributes(self, customer_id: int) -> dict[str, Any]:
        """The customer's attributes as the server has them: ``{"tags": ..., "custom": ...}``."""
        response = self.get(f"{self.customer_path(customer_id)}/attributes")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        # The reference wraps the answer ({"attributes": {...}}), today's API does not.
        return body if self.dialect == "current" else body["attributes"]
