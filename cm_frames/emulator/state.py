"""The emulator's state: accounts and their customers in SQLite, and every operation on them.

Each customer is one row holding its whole wire object as compact JSON bytes (so a page
of 200 is a join of stored bytes, not 200 re-encodings), its list position within its
account (order of ``customer-since`` in UTC, ties by id; today's dialect puts leads, with
no customer-since, last by id: no endpoint changes it, only the test hook
``update_customer``, which renumbers the account), its sort key for today's cursors
(``lead``, ``since_key``) and the type of each custom attribute. ``custom_types`` is NULL until the
first write: until then the types are those inferred from the seed values.

Concurrency: one connection guarded by one lock. Every operation runs under the lock, and
every write in one BEGIN IMMEDIATE transaction that is rolled back if anything in the
request fails, so a request is all-or-nothing and concurrent writes never interleave.
Measured: a tag write holds the lock about 0.03 ms and a page read 0.15 ms, of about
0.6 ms per HTTP request, and 8 writing sessions got no more requests/s than one (1,000
to 1,500 on 2 cores, client included). The lock is not the bottleneck (Python is), so a
connection per thread would buy nothing.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from cm_frames.emulator.cursors import OpaqueCursors, Position, since_key
from cm_frames.emulator.generator import generate_current_customers, generate_customers
from cm_frames.emulator.problems import NotFound, RequestFailed
from cm_frames.emulator.validation import TypedValue, coerce_value, infer_type

__all__ = ["CURRENT_FILTERS", "DIALECTS", "NO_CONTENT", "AccountSpec", "State", "encode"]

#: "enrichment": the API of enrichment-api.md; "current": the service as it is today.
DIALECTS = ("enrichment", "current")

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    token TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    spec TEXT NOT NULL,            -- JSON: how to (re)build the seeded customers
    customer_count INTEGER NOT NULL,
    created INTEGER NOT NULL       -- insertion order, for a stable listing
);
CREATE TABLE IF NOT EXISTS customers (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    uuid TEXT NOT NULL,
    email_key TEXT NOT NULL,       -- the email, lower-cased: search is case-insensitive
    position INTEGER NOT NULL,     -- 0-based rank in the account's list order
    body BLOB NOT NULL,            -- the customer object, compact UTF-8 JSON
    custom_types TEXT,             -- JSON {key: type}; NULL: inferred from the values
    custom_sources TEXT,           -- JSON {key: source} (today's optional "source"); NULL: none
    lead INTEGER NOT NULL DEFAULT 0,    -- 1: customer-since is null (a lead): listed last
    since_key TEXT NOT NULL DEFAULT ''  -- customer-since, UTC, nine fractional digits
);
CREATE UNIQUE INDEX IF NOT EXISTS customers_by_position ON customers (account, position);
CREATE INDEX IF NOT EXISTS customers_by_uuid ON customers (account, uuid);
CREATE INDEX IF NOT EXISTS customers_by_email ON customers (account, email_key);
"""
# After the columns exist (a file from before they did gets them by ALTER TABLE).
_ORDER_INDEX = (
    "CREATE INDEX IF NOT EXISTS customers_by_order ON customers (account, lead, since_key, id)"
)
# The status filter walks its customers in list order through this index on the filter's
# own expression (without it every filtered page scanned the account: 50-90 ms a page of
# 100,000 customers against 8 ms unfiltered, and a status count scanned it too).
_STATUS_INDEX = (
    "CREATE INDEX IF NOT EXISTS customers_by_status ON customers (account, "
    "json_extract(CAST(body AS TEXT), '$.status'), lead, since_key, id)"
)
_COLUMNS = (
    "id, account, uuid, email_key, position, body, custom_types, custom_sources, lead, since_key"
)

#: The body a write answers with no content (today's DELETE that empties custom): a 204.
NO_CONTENT = b""

# Today's list filters: query parameter -> SQL condition on one customer row (the body is
# JSON text; external_id and data_source_uuid match any of the customer's ids/sources).
_FILTERS = {
    "status": "json_extract(CAST(body AS TEXT), '$.status') = ?",
    "system": "json_extract(CAST(body AS TEXT), '$.\"billing-system-type\"') = ?",
    "external_id": "EXISTS (SELECT 1 FROM json_each(CAST(body AS TEXT), '$.external_ids')"
    " WHERE value = ?)",
    "data_source_uuid": "EXISTS (SELECT 1 FROM json_each(CAST(body AS TEXT),"
    " '$.data_source_uuids') WHERE value = ?)",
}
CURRENT_FILTERS = tuple(_FILTERS)

_NUMERIC_ID = re.compile(r"[0-9]{1,19}")
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode(value: Any) -> bytes:
    """Compact UTF-8 JSON, the form of every body the emulator sends."""
    return _ENCODER.encode(value).encode()


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """How an account's seeded customers are made: generated, or given explicitly."""

    customers: int | tuple[Mapping[str, Any], ...]
    seed: int = 0
    id_start: int = 1
    dialect: str = "enrichment"  # which generator makes the customers

    def to_json(self) -> str:
        # The reference's spec is written as before the dialects: old files read the same.
        extra = {} if self.dialect == "enrichment" else {"dialect": self.dialect}
        if isinstance(self.customers, int):
            return json.dumps(
                {"customers": self.customers, "seed": self.seed, "id_start": self.id_start} | extra
            )
        return json.dumps({"explicit": list(self.customers)} | extra, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> AccountSpec:
        data = json.loads(text)
        dialect = str(data.get("dialect", "enrichment"))
        if "explicit" in data:
            return cls(tuple(data["explicit"]), dialect=dialect)
        return cls(int(data["customers"]), int(data["seed"]), int(data["id_start"]), dialect)

    def build(self) -> list[dict[str, Any]]:
        if isinstance(self.customers, int):
            if self.dialect == "current":
                return generate_current_customers(self.customers, self.seed, id_start=self.id_start)
            return generate_customers(self.customers, self.seed, id_start=self.id_start)
        return [json.loads(json.dumps(customer)) for customer in self.customers]  # deep copy

    def last_id(self) -> int:
        """The largest customer id this spec creates (``id_start - 1`` when empty)."""
        if isinstance(self.customers, int):
            return self.id_start + self.customers - 1
        return max((int(customer["id"]) for customer in self.customers), default=0)


@dataclass(slots=True)
class _Row:
    """One customer loaded for a write: its object, its custom attribute types and the
    sources they were sent with (today's dialect)."""

    id: int
    customer: dict[str, Any]
    types: dict[str, str]
    sources: dict[str, str] = dataclasses.field(default_factory=dict)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic GC while 100,000 fresh dicts are built and encoded (it would rescan them
    repeatedly for nothing: they hold no cycles)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _instant(since: str) -> float:
    """``customer-since`` as a UTC epoch (a naive value is UTC): the list order."""
    moment = datetime.fromisoformat(since)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _check_seed_customer(customer: Mapping[str, Any], current: bool = False) -> None:
    """Reject seed data the store could not serve correctly, naming the field."""
    for field, kind in (("id", int), ("uuid", str), ("email", str), ("customer-since", str)):
        if current and field == "customer-since" and customer.get(field) is None:
            continue  # today's leads have none
        if not isinstance(customer.get(field), kind):
            raise ValueError(
                f"seed customer {customer.get('id')!r}: {field} must be a {kind.__name__}"
            )
    attributes = customer.get("attributes")
    if not isinstance(attributes, dict) or not isinstance(attributes.get("custom"), dict):
        raise ValueError(f"seed customer {customer['id']}: attributes.custom must be an object")
    if not isinstance(attributes.get("tags"), list):
        raise ValueError(f"seed customer {customer['id']}: attributes.tags must be a list")
    for key, value in attributes["custom"].items():
        infer_type(value)  # raises for a value no attribute type can hold
        if not isinstance(key, str):
            raise ValueError(f"seed customer {customer['id']}: custom key {key!r} is not a string")


def _without_address(customer: Mapping[str, Any]) -> dict[str, Any]:
    """The customer as the by-email endpoints return it (their example has no address)."""
    return {key: value for key, value in customer.items() if key != "address"}


_BY_EMAIL_FIELDS = ("id", "uuid", "external_id", "name", "email", "status", "customer-since")


def _current_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes as today's service writes them alone: tags, stripe, clearbit, custom.

    Recorded: ``{"tags": [...], "stripe": {}, "custom": {...}}``, with no ``clearbit`` key
    for a customer whose Clearbit data is empty.
    """
    shown = {"tags": attributes["tags"], "stripe": attributes.get("stripe", {})}
    if attributes.get("clearbit"):
        shown["clearbit"] = attributes["clearbit"]
    shown["custom"] = attributes["custom"]
    return shown


def _current_by_email(customer: Mapping[str, Any]) -> dict[str, Any]:
    """A by-email entry of today's service (recorded): the basic fields and attributes."""
    entry = {key: customer.get(key) for key in _BY_EMAIL_FIELDS}
    entry["attributes"] = _current_attributes(customer["attributes"])
    return entry


_WEBSITE_URL = b',"website_url":'


def _list_entry(body: bytes) -> bytes:
    """A stored customer as today's list and search write it: no ``website_url`` (recorded:
    only ``GET /customers/{uuid}`` has it)."""
    if b'"website_url"' not in body:
        return body
    # The generator's last key, null or a plain URL: cut as bytes (a page of 200 decoded
    # and re-encoded would cost more than the rest of the request).
    at = body.rfind(_WEBSITE_URL)
    value = body[at + len(_WEBSITE_URL) : -1]
    if at != -1 and (
        value == b"null"
        or (
            len(value) >= 2
            and value[:1] == value[-1:] == b'"'
            and not set(value[1:-1]) & set(b'"\\')
        )
    ):
        return body[:at] + b"}"
    customer = json.loads(body)
    customer.pop("website_url", None)
    return encode(customer)


def _where(token: str, filters: Mapping[str, str]) -> tuple[str, list[Any]]:
    """The SQL condition (and its parameters) of one account's customers that match."""
    conditions = ["account = ?"]
    params: list[Any] = [token]
    for name, value in filters.items():
        if name == "email":
            conditions.append("email_key = ?")
            params.append(value.lower())
        else:
            conditions.append(_FILTERS[name])
            params.append(value)
    return " AND ".join(conditions), params


def _order_key(customer: Mapping[str, Any]) -> tuple[int, str]:
    return since_key(customer.get("customer-since"))


class State:
    """Every account's customers, and the operations the HTTP routes call."""

    def __init__(
        self, path: str | None = None, dialect: str = "enrichment", cursors: str = "transparent"
    ) -> None:
        self.dialect = dialect
        self.current = dialect == "current"
        # Today's opaque cursors (a test setting): remembered here, refused when unknown.
        self.opaque: OpaqueCursors | None = OpaqueCursors() if cursors == "opaque" else None
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            path or ":memory:", check_same_thread=False, isolation_level=None
        )
        if path:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        present = {row[1] for row in self._db.execute("PRAGMA table_info(customers)")}
        for column, declaration in (
            ("custom_sources", "TEXT"),
            ("lead", "INTEGER NOT NULL DEFAULT 0"),
            ("since_key", "TEXT NOT NULL DEFAULT ''"),
        ):
            if column not in present:  # a file written before today's dialect
                self._db.execute(f"ALTER TABLE customers ADD COLUMN {column} {declaration}")
        self._db.execute(_ORDER_INDEX)
        self._db.execute(_STATUS_INDEX)
        self._closed = False
        # Accounts known to hold exactly their seeded customers: reset() skips them, so
        # the per-test reset of a shared emulator costs nothing after read-only tests.
        self._pristine: set[str] = set()

    # --- lifecycle and accounts ---------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """Under the lock, BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                self._pristine.clear()  # unknown now: the next reset reloads every account
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def accounts(self) -> dict[str, str]:
        """token -> secret, in creation order."""
        return dict(self._read("SELECT token, secret FROM accounts ORDER BY created"))

    def secret_of(self, token: str) -> str | None:
        rows = self._read("SELECT secret FROM accounts WHERE token = ?", (token,))
        return rows[0][0] if rows else None

    def set_secret(self, token: str, secret: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE accounts SET secret = ? WHERE token = ?", (secret, token))

    def next_id_start(self, excluding: str | None = None) -> int:
        """One past the largest id any other account's seed data uses: ids stay unique."""
        specs = self._read("SELECT spec FROM accounts WHERE token IS NOT ?", (excluding,))
        return max((AccountSpec.from_json(spec).last_id() for (spec,) in specs), default=0) + 1

    def put_account(self, token: str, secret: str, spec: AccountSpec) -> None:
        """Create (or replace) an account and load its seeded customers."""
        with _gc_paused():
            self._put_account(token, secret, spec)

    def _put_account(self, token: str, secret: str, spec: AccountSpec) -> None:
        customers = spec.build()
        if not isinstance(spec.customers, int):  # generated customers are right by design
            for customer in customers:
                _check_seed_customer(customer, current=spec.dialect == "current")
        with self._transaction() as db:
            created = db.execute(
                "SELECT COALESCE((SELECT created FROM accounts WHERE token = ?),"
                " (SELECT COALESCE(MAX(created), 0) + 1 FROM accounts))",
                (token,),
            ).fetchone()[0]
            db.execute(
                "INSERT OR REPLACE INTO accounts VALUES (?, ?, ?, ?, ?)",
                (token, secret, spec.to_json(), len(customers), created),
            )
            self._load_customers(db, token, customers)

    def remove_account(self, token: str) -> bool:
        """Delete an account and its customers; False if there was none."""
        with self._transaction() as db:
            db.execute("DELETE FROM customers WHERE account = ?", (token,))
            removed = db.execute("DELETE FROM accounts WHERE token = ?", (token,)).rowcount
        self._pristine.discard(token)
        return bool(removed)

    def reset(self) -> None:
        """Every account back to its seeded customers."""
        with self._lock, _gc_paused():
            rows = self._read("SELECT token, spec FROM accounts")
            changed = [(token, spec) for token, spec in rows if token not in self._pristine]
            built = [(token, AccountSpec.from_json(spec).build()) for token, spec in changed]
            with self._transaction() as db:
                for token, customers in built:
                    self._load_customers(db, token, customers)

    def _load_customers(
        self, db: sqlite3.Connection, token: str, customers: list[dict[str, Any]]
    ) -> None:
        self._pristine.discard(token)  # re-added by the caller's commit, below
        db.execute("DELETE FROM customers WHERE account = ?", (token,))
        keys = {id(c): _order_key(c) for c in customers}
        if self.current:  # customer-since, then id; leads (no customer-since) last, by id
            ordered = sorted(customers, key=lambda c: (*keys[id(c)], c["id"]))
        else:
            ordered = sorted(customers, key=lambda c: (_instant(c["customer-since"]), c["id"]))
        try:
            db.executemany(
                f"INSERT INTO customers ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?)",
                (
                    (
                        c["id"],
                        token,
                        c["uuid"],
                        c["email"].lower(),
                        position,
                        encode(c),
                        *keys[id(c)],
                    )
                    for position, c in enumerate(ordered)
                ),
            )
        except sqlite3.IntegrityError as error:
            raise ValueError(
                f"account {token!r}: a customer id is already used (by this or another account): {error}"
            ) from error
        self._pristine.add(token)  # undone by a rollback: see _transaction

    # --- reads --------------------------------------------------------------------

    def list_page(self, token: str, page: int, per_page: int) -> bytes:
        """The body of ``GET /customers?page=&per_page=``."""
        start = (page - 1) * per_page
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM customers WHERE account = ? AND position >= ? AND position < ?"
                " ORDER BY position",
                (token, start, start + per_page),
            ).fetchall()
            (count,) = self._db.execute(
                "SELECT customer_count FROM accounts WHERE token = ?", (token,)
            ).fetchone()
        has_more = b"true" if start + per_page < count else b"false"
        # current_page and total_pages: the official clients of the reference's era read them.
        total_pages = max(1, -(-count // per_page))
        return b"".join(
            (
                b'{"entries":[',
                b",".join(body for (body,) in rows),
                b'],"has_more":',
                has_more,
                b',"per_page":%d,"page":%d' % (per_page, page),
                b',"current_page":%d,"total_pages":%d}' % (page, total_pages),
            )
        )

    # --- today's cursor paging ---------------------------------------------------------

    def list_after(
        self,
        token: str,
        after: Position | None,
        per_page: int,
        filters: Mapping[str, str],
        *,
        count: bool = False,
    ) -> tuple[list[bytes], bool, Position | None, int | None]:
        """One page of today's list: (entries, has_more, position of the last, total).

        ``after``: start strictly after this position (None: at the start). ``filters``
        are query parameters among ``CURRENT_FILTERS`` (and ``email``, for search).
        ``total`` (the count of every match, for ``total_pages``) only with ``count``.
        """
        where, params = _where(token, filters)
        page_where, page_params = where, list(params)
        if after is not None:
            page_where += " AND (lead, since_key, id) > (?, ?, ?)"
            page_params += list(after)
        with self._lock:
            rows = self._db.execute(
                f"SELECT body, lead, since_key, id FROM customers WHERE {page_where}"
                " ORDER BY lead, since_key, id LIMIT ?",
                (*page_params, per_page + 1),
            ).fetchall()
            total = (
                self._db.execute(
                    f"SELECT COUNT(*) FROM customers WHERE {where}", params
                ).fetchone()[0]
                if count
                else None
            )
        has_more = len(rows) > per_page
        rows = rows[:per_page]
        last: Position | None = (rows[-1][1], rows[-1][2], rows[-1][3]) if rows else None
        return [_list_entry(row[0]) for row in rows], has_more, last, total

    def rank(self, token: str, position: Position, filters: Mapping[str, str]) -> int:
        """How many of the customers that ``filters`` select come at or before ``position``."""
        where, params = _where(token, filters)
        (before,) = self._read(
            f"SELECT COUNT(*) FROM customers WHERE {where} AND (lead, since_key, id) <= (?, ?, ?)",
            (*params, *position),
        )[0]
        count: int = before
        return count

    def page_by_number(
        self, token: str, page: int, per_page: int, filters: Mapping[str, str]
    ) -> tuple[list[bytes], bool, Position | None]:
        """Page ``page`` of today's walk that ``filters`` select (fault injection's pages)."""
        where, params = _where(token, filters)
        with self._lock:
            rows = self._db.execute(
                f"SELECT body, lead, since_key, id FROM customers WHERE {where}"
                " ORDER BY lead, since_key, id LIMIT ? OFFSET ?",
                (*params, per_page + 1, (page - 1) * per_page),
            ).fetchall()
        has_more = len(rows) > per_page
        rows = rows[:per_page]
        last: Position | None = (rows[-1][1], rows[-1][2], rows[-1][3]) if rows else None
        return [_list_entry(row[0]) for row in rows], has_more, last

    def update_customer(self, token: str, uuid: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Change top-level fields of one customer (a test hook); the list order follows.

        A name may use ``_`` for ``-`` (``customer_since`` for ``customer-since``). Unknown
        fields are refused (KeyError), so a typo does not pass silently.
        """
        with self._transaction() as db:
            self._pristine.discard(token)
            rows = db.execute(
                "SELECT id, body FROM customers WHERE account = ? AND uuid = ?", (token, uuid)
            ).fetchall()
            if not rows:
                raise KeyError(f"update_customer: no customer {uuid!r} in account {token!r}")
            customer_id, body = rows[0]
            customer = json.loads(body)
            for name, value in fields.items():
                field = name if name in customer else name.replace("_", "-")
                if field not in customer or field in ("id", "uuid", "attributes"):
                    raise KeyError(f"update_customer: {name!r} is not a field that can be set")
                customer[field] = value
            if not isinstance(customer.get("email"), str):
                raise ValueError("update_customer: email must be a string")
            lead, key = _order_key(customer)
            db.execute(
                "UPDATE customers SET body = ?, email_key = ?, lead = ?, since_key = ? WHERE id = ?",
                (encode(customer), customer["email"].lower(), lead, key, customer_id),
            )
            order = [
                row[0]
                for row in db.execute(
                    "SELECT id FROM customers WHERE account = ? ORDER BY lead, since_key, id",
                    (token,),
                )
            ]
            # Two passes: the (account, position) index is unique at every step.
            db.execute("UPDATE customers SET position = -1 - position WHERE account = ?", (token,))
            db.executemany(
                "UPDATE customers SET position = ? WHERE id = ?",
                ((position, row_id) for position, row_id in enumerate(order)),
            )
        result: dict[str, Any] = customer
        return result

    def _find_body(self, token: str, ref: str) -> bytes:
        sql = _lookup_sql(ref, "body", self.current)
        rows = self._read(sql, (token, _lookup_value(ref))) if sql else []
        if not rows:
            raise _not_found(ref, self.current)
        body: bytes = rows[0][0]
        return body

    def custom_sources(self, token: str, uuid: str) -> dict[str, str]:
        """The ``source`` each custom attribute of a customer was last sent with."""
        rows = self._read(
            "SELECT custom_sources FROM customers WHERE account = ? AND uuid = ?", (token, uuid)
        )
        if not rows:
            raise KeyError(f"custom_sources: no customer {uuid!r} in account {token!r}")
        sources: dict[str, str] = json.loads(rows[0][0]) if rows[0][0] is not None else {}
        return sources

    def get_customer(self, token: str, ref: str) -> bytes:
        return self._find_body(token, ref)

    def get_attributes(self, token: str, ref: str) -> bytes:
        customer = json.loads(self._find_body(token, ref))
        if self.current:  # recorded: unwrapped
            return encode(_current_attributes(customer["attributes"]))
        return encode({"attributes": customer["attributes"]})

    def search(self, token: str, email: str) -> bytes:
        rows = self._read(
            "SELECT body FROM customers WHERE account = ? AND email_key = ? ORDER BY position",
            (token, email.lower()),
        )
        if not rows:
            raise NotFound(f"email: no customer with email {email!r}")
        # current_page and total_pages: as in the list (the official clients read them).
        return (
            b'{"entries":['
            + b",".join(body for (body,) in rows)
            + b'],"current_page":1,"total_pages":1}'
        )

    # --- writes -------------------------------------------------------------------

    def _rows_for_write(
        self, db: sqlite3.Connection, sql: str, params: Sequence[Any]
    ) -> list[_Row]:
        rows: list[_Row] = []
        for customer_id, body, types_json, sources_json in db.execute(sql, params).fetchall():
            customer = json.loads(body)
            custom = customer["attributes"]["custom"]
            types = (
                json.loads(types_json)
                if types_json is not None
                else {key: infer_type(value) for key, value in custom.items()}
            )
            sources = json.loads(sources_json) if sources_json is not None else {}
            rows.append(_Row(customer_id, customer, types, sources))
        return rows

    def _save(self, db: sqlite3.Connection, row: _Row) -> None:
        db.execute(
            "UPDATE customers SET body = ?, custom_types = ?, custom_sources = ? WHERE id = ?",
            (
                encode(row.customer),
                json.dumps(row.types),
                json.dumps(row.sources) if row.sources else None,
                row.id,
            ),
        )

    def _change_one(self, token: str, ref: str, change: Callable[[_Row], T]) -> T:
        """Apply ``change`` to one customer in one transaction and return its result."""
        sql = _lookup_sql(ref, "id, body, custom_types, custom_sources", self.current)
        if sql is None:
            raise _not_found(ref, self.current)
        with self._transaction() as db:
            self._pristine.discard(token)
            rows = self._rows_for_write(db, sql, (token, _lookup_value(ref)))
            if not rows:
                raise _not_found(ref, self.current)
            result = change(rows[0])
            self._save(db, rows[0])
        return result

    def _change_by_email(self, token: str, email: str, change: Callable[[_Row], object]) -> bytes:
        """Apply ``change`` to every customer with ``email``; the by-email response body."""
        with self._transaction() as db:
            self._pristine.discard(token)
            rows = self._rows_for_write(
                db,
                "SELECT id, body, custom_types, custom_sources FROM customers"
                " WHERE account = ? AND email_key = ? ORDER BY position",
                (token, email.lower()),
            )
            if not rows:
                raise NotFound(f"email: no customer with email {email!r}")
            for row in rows:
                change(row)
                self._save(db, row)
        if self.current:  # recorded: {"entries": [...]} and no paging keys
            return encode({"entries": [_current_by_email(row.customer) for row in rows]})
        entries = [_without_address(row.customer) for row in rows]
        # Every match is in one page, hence the fixed paging fields (as in the reference).
        return encode({"entries": entries, "has_more": False, "per_page": 200, "page": 1})

    def add_tags(self, token: str, ref: str, tags: list[str]) -> bytes:
        return self._change_one(token, ref, lambda row: encode({"tags": _add_tags(row, tags)}))

    def remove_tags(self, token: str, ref: str, tags: list[str]) -> bytes:
        return self._change_one(token, ref, lambda row: encode({"tags": _remove_tags(row, tags)}))

    def add_tags_by_email(self, token: str, email: str, tags: list[str]) -> bytes:
        return self._change_by_email(token, email, lambda row: _add_tags(row, tags))

    def add_custom(self, token: str, ref: str, values: list[tuple[str, TypedValue]]) -> bytes:
        return self._change_one(
            token, ref, lambda row: encode({"custom": _add_custom(row, values)})
        )

    def add_custom_by_email(
        self, token: str, email: str, values: list[tuple[str, TypedValue]]
    ) -> bytes:
        return self._change_by_email(token, email, lambda row: _add_custom(row, values))

    def remove_custom(self, token: str, ref: str, keys: list[str]) -> bytes:
        def remove(row: _Row) -> bytes:
            custom = _remove_custom(row, keys)
            if self.current and not custom:
                return NO_CONTENT  # recorded: 204 when no custom attribute is left
            return encode({"custom": custom})

        return self._change_one(token, ref, remove)

    def update_custom(self, token: str, ref: str, changes: dict[str, Any]) -> bytes:
        current = self.current
        return self._change_one(
            token, ref, lambda row: encode({"custom": _update_custom(row, changes, current)})
        )


def _lookup_sql(ref: str, columns: str, current: bool = False) -> str | None:
    """The query finding a customer by numeric id or ``cus_`` uuid; None: cannot match.

    ``current``: today's paths take the uuid only (a numeric id matches nothing: 404).
    """
    if _NUMERIC_ID.fullmatch(ref) and not current:
        return f"SELECT {columns} FROM customers WHERE account = ? AND id = ?"
    if ref.startswith("cus_"):
        return f"SELECT {columns} FROM customers WHERE account = ? AND uuid = ?"
    return None


def _lookup_value(ref: str) -> int | str:
    return int(ref) if _NUMERIC_ID.fullmatch(ref) else ref


def _not_found(ref: str, current: bool = False) -> NotFound:
    if current:  # today's paths name the customer by uuid
        return NotFound(
            f"customer_uuid: no customer {ref!r} in this account (use its cus_ uuid)",
            param="customer_uuid",
        )
    return NotFound(
        f"customer_id: no customer {ref!r} in this account "
        "(use the numeric id or the cus_ uuid from GET /v1/customers)"
    )


def _add_tags(row: _Row, tags: list[str]) -> list[str]:
    current: list[str] = row.customer["attributes"]["tags"]
    for tag in tags:
        if tag not in current:
            current.append(tag)
    return current


def _remove_tags(row: _Row, tags: list[str]) -> list[str]:
    attributes = row.customer["attributes"]
    removed = set(tags)
    kept: list[str] = [tag for tag in attributes["tags"] if tag not in removed]
    attributes["tags"] = kept
    return kept


def _add_custom(row: _Row, values: list[tuple[str, TypedValue]]) -> dict[str, Any]:
    custom: dict[str, Any] = row.customer["attributes"]["custom"]
    for key, typed in values:
        custom[key] = typed.value
        row.types[key] = typed.type
        if typed.source is not None:
            row.sources[key] = typed.source
        else:  # a value sent again without its source no longer has that source
            row.sources.pop(key, None)
    return custom


def _remove_custom(row: _Row, keys: list[str]) -> dict[str, Any]:
    custom: dict[str, Any] = row.customer["attributes"]["custom"]
    for key in keys:
        custom.pop(key, None)
        row.types.pop(key, None)
        row.sources.pop(key, None)
    return custom


def _update_custom(row: _Row, changes: dict[str, Any], current: bool = False) -> dict[str, Any]:
    custom: dict[str, Any] = row.customer["attributes"]["custom"]
    missing = [key for key in changes if key not in custom]
    if missing:
        raise RequestFailed(
            f"custom.{missing[0]}: customer {row.id} has no custom attribute {missing[0]!r};"
            " PUT only changes existing keys (add new ones with POST .../attributes/custom)"
        )
    # Check every value before changing any: the request is all-or-nothing.
    coerced = {
        key: coerce_value(row.types[key], value, f"custom.{key}", current=current)
        for key, value in changes.items()
    }
    custom.update(coerced)
    return custom
