"""Deterministic, realistic customers in the Enrichment API's wire format.

``generate_customers(n, seed)`` returns the same customers, byte for byte, for the same
arguments: everything comes from one ``random.Random(seed)``. The data has the mess real
accounts have: companies and people, non-ASCII names, emails shared by two or three
customers (sometimes in a different letter case), addresses in many countries with empty
or null fields, ``customer-since`` in many UTC offsets, 0-6 tags (some with spaces),
sparse custom attributes of all four types (with two keys whose JSON type varies across
customers), Stripe metadata for most customers (one key with a dot in it) and Clearbit
data with nulls for about half.

Custom Timestamps are emitted in the emulator's normalised form
(``YYYY-MM-DDTHH:MM:SSZ``), which is how the store recognises them as Timestamps.

``generate_current_customers(n, seed)`` makes customers as today's service answers them
(``Emulator(dialect="current")``): leads with no customer-since, mrr/arr in cents,
currencies, data sources, links, location codes beside full names. It is a separate
generator, so the reference's customers stay byte for byte what they were.
"""

from __future__ import annotations

import collections
import functools
import gc
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

__all__ = [
    "CURRENT_STATUSES",
    "LEAD_STATUSES",
    "TAG_VOCABULARY",
    "current_time",
    "generate_current_customers",
    "generate_customers",
]

T = TypeVar("T")


class _Draw:
    """A seeded random source with cheap draws.

    ``random.Random.randrange``/``choice``/``choices`` cost about half a microsecond each
    in pure Python; scaling one C-level ``random()`` is several times faster, and
    generation speed matters (100,000 customers in about a second).
    """

    __slots__ = ("getrandbits", "random")

    def __init__(self, seed: int) -> None:
        source = random.Random(seed)
        self.random = source.random
        self.getrandbits = source.getrandbits

    def randrange(self, start: int, stop: int | None = None) -> int:
        """An integer in ``[start, stop)``, or ``[0, start)`` with one argument."""
        if stop is None:
            start, stop = 0, start
        return start + int(self.random() * (stop - start))

    def between(self, low: int, high: int) -> int:
        """An integer in ``[low, high]``."""
        return low + int(self.random() * (high - low + 1))

    def pick(self, items: Sequence[T]) -> T:
        return items[int(self.random() * len(items))]

    def chance(self, probability: float) -> bool:
        return self.random() < probability

    def sample(self, items: Sequence[T], count: int) -> list[T]:
        """``count`` distinct items, in draw order."""
        pool = list(items)
        chosen: list[T] = []
        for _ in range(count):
            chosen.append(pool.pop(int(self.random() * len(pool))))
        return chosen


def _weighted(pairs: Sequence[tuple[T, int]]) -> tuple[T, ...]:
    """A tuple where each item appears ``weight`` times: a uniform pick is a weighted pick."""
    return tuple(item for item, weight in pairs for _ in range(weight))


# --- vocabularies ------------------------------------------------------------------

_COMPANY_STEMS = (
    "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Soylent",
    "Cyberdyne", "Tyrell", "Aperture", "Vandelay", "Dunder", "Pied Piper", "Nakatomi", "Oscorp",
    "Gringotts", "Monarch", "Massive", "Blue Sun", "Zorg", "Virtucon", "Sirius", "Ollivander",
    "Nordwind", "Müller", "Société Café", "Sakura", "Kōbe", "Zürich", "Björk", "São Paulo",
    "Lumen", "Quanta", "Helix", "Vertex", "Nimbus", "Orbit", "Pixel", "Atlas", "Beacon",
)  # fmt: skip
_COMPANY_KINDS = (
    "Analytics", "Labs", "Software", "Systems", "Cloud", "Media", "Health", "Logistik",
    "Robotics", "Payments", "Studio", "Foods", "Energy", "Security", "Data", "Learning",
)  # fmt: skip
_FIRST_NAMES = (
    "Adam", "Bob", "Maria", "José", "Zoë", "Anna", "Li", "Wei", "Priya", "Arjun", "Fatima",
    "Omar", "Sven", "Ingrid", "Chloé", "Lucas", "Hiroshi", "Yuki", "Olga", "Ivan", "Amara",
    "Kwame", "Sofia", "Mateo", "Emma", "Noah", "Aisha", "Mehmet", "Elif", "Tomás", "Niamh",
    "Gabi", "Søren", "Ana", "Chen", "Sara", "David", "Julia", "Pedro", "Hannah",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Garcia", "Müller", "Rossi", "Dubois", "Kowalski", "Nguyen", "Kim", "Sato",
    "Patel", "Singh", "Okafor", "Mensah", "Johansson", "Larsen", "O'Brien", "Silva", "Santos",
    "Cohen", "Yilmaz", "Ivanova", "Novak", "Fernández", "López", "Chen", "Wang", "Tanaka",
    "Brown", "Wilson", "Martin", "Schmidt", "Nowak", "Haddad", "Andersson", "Costa", "Lee",
)  # fmt: skip
_FREEMAIL = ("gmail.com", "outlook.com", "yahoo.com", "proton.me", "icloud.com", "gmx.de")
_ROLES = ("billing", "finance", "accounts", "admin", "hello", "ops")
_STREETS = (
    "Main St", "High Street", "Hauptstraße", "Rue de Rivoli", "Via Roma", "Market St",
    "King St", "Calle Mayor", "Baker Street", "Avenida Paulista", "MG Road", "Queen St",
)  # fmt: skip

# code, weight, tld, legal form, cities, states (None: the country has none in data),
# UTC offsets in minutes, zip format ("#" a digit, "A" a letter; "" none)
_COUNTRIES: tuple[tuple[str, int, str, str, tuple[str, ...], tuple[str, ...] | None, tuple[int, ...], str], ...] = (
    ("US", 30, "com", "Inc.", ("New York", "San Francisco", "Austin", "Chicago", "Seattle", "Boston", "Nowhereville"),
     ("New York", "California", "Texas", "Illinois", "Washington", "Massachusetts", "Alaska"),
     (-240, -300, -360, -420, -480), "#####"),
    ("GB", 10, "co.uk", "Ltd", ("London", "Manchester", "Edinburgh", "Bristol"), None, (0, 60), "AA# #AA"),
    ("DE", 9, "de", "GmbH", ("Berlin", "München", "Hamburg", "Köln"), ("Berlin", "Bayern", "Hamburg", "Nordrhein-Westfalen"), (60, 120), "#####"),
    ("FR", 5, "fr", "SAS", ("Paris", "Lyon", "Marseille"), None, (60, 120), "#####"),
    ("CA", 5, "ca", "Inc.", ("Toronto", "Vancouver", "Montréal"), ("Ontario", "British Columbia", "Québec"), (-240, -300, -420), "A#A #A#"),
    ("IN", 6, "in", "Pvt Ltd", ("Bengaluru", "Mumbai", "Pune", "Delhi"), ("Karnataka", "Maharashtra", "Delhi"), (330,), "######"),
    ("AU", 4, "com.au", "Pty Ltd", ("Sydney", "Melbourne", "Brisbane"), ("NSW", "VIC", "QLD"), (600, 660, 570), "####"),
    ("JP", 3, "jp", "KK", ("Tokyo", "Osaka", "Kōbe"), None, (540,), "###-####"),
    ("BR", 4, "com.br", "Ltda", ("São Paulo", "Rio de Janeiro", "Curitiba"), ("SP", "RJ", "PR"), (-180,), "#####-###"),
    ("NL", 3, "nl", "BV", ("Amsterdam", "Rotterdam", "Utrecht"), None, (60, 120), "#### AA"),
    ("ES", 3, "es", "SL", ("Madrid", "Barcelona", "Valencia"), None, (60, 120), "#####"),
    ("SE", 2, "se", "AB", ("Stockholm", "Göteborg"), None, (60, 120), "### ##"),
    ("NP", 1, "com.np", "Pvt Ltd", ("Kathmandu",), None, (345,), "#####"),
    ("SG", 2, "sg", "Pte Ltd", ("Singapore",), None, (480,), "######"),
    ("ZA", 1, "co.za", "(Pty) Ltd", ("Cape Town", "Johannesburg"), None, (120,), "####"),
    ("NG", 1, "ng", "Ltd", ("Lagos", "Abuja"), None, (60,), ""),
    ("MX", 2, "mx", "SA de CV", ("Ciudad de México", "Guadalajara"), ("CDMX", "Jalisco"), (-360,), "#####"),
    ("IE", 2, "ie", "Ltd", ("Dublin", "Cork"), None, (0, 60), "A## AAAA"),
    ("NZ", 1, "co.nz", "Ltd", ("Auckland", "Wellington"), None, (720, 780), "####"),
    ("AE", 1, "ae", "FZ-LLC", ("Dubai",), None, (240,), ""),
)  # fmt: skip
_COUNTRY_POOL = _weighted([(country, country[1]) for country in _COUNTRIES])

_STATUS_POOL = _weighted(
    [("Active", 55), ("Past Due", 6), ("Cancelled", 20), ("Trial", 9), ("Lead", 10)]
)

TAG_VOCABULARY = (
    "engage", "unit loss", "discountable", "important", "Prio1", "churn-risk", "vip",
    "enterprise", "smb", "mid-market", "trial-extended", "upsell", "cross-sell", "annual",
    "monthly", "beta", "partner", "reseller", "nonprofit", "education", "agency",
    "self-serve", "sales-led", "onboarding", "at risk", "happy", "detractor", "promoter",
    "needs follow-up", "legacy plan", "migrated", "gdpr", "hipaa", "eu", "apac", "latam",
    "high-touch", "low-touch", "expansion", "referral",
)  # fmt: skip
_TAG_COUNT_POOL = _weighted(list(zip(range(7), (20, 25, 22, 15, 9, 6, 3), strict=True)))

_CAMPAIGNS = ("social media 1", "spring promo", "webinar", "newsletter", "partner", "retargeting")
_SOURCES = ("google", "facebook", "linkedin", "twitter", "direct", "bing", "producthunt")
_REPS = ("Gabi", "Tom", "Ana", "Jürgen", "Mei", "Raj", "Lena", "Kofi")
_PLANS = ("Starter", "Growth", "Pro", "Enterprise", "Legacy 2018")
_INDUSTRIES = ("SaaS", "E-commerce", "Fintech", "Healthcare", "Education", "Media", "Logistics")


def _timestamp(rng: _Draw) -> str:
    seconds = rng.randrange(1_451_606_400, 1_767_225_600)  # 2016-01-01 .. 2026-01-01, UTC
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None).isoformat() + "Z"


def _crm_id(rng: _Draw) -> int | str:
    # Deliberately mixed: mostly an integer, sometimes a string like "A-12".
    if rng.chance(0.7):
        return rng.randrange(1000, 99_999)
    return f"{rng.pick('ABCXZ')}-{rng.randrange(1, 999)}"


def _priority(rng: _Draw) -> int | str:
    # Deliberately mixed: a 1-5 integer, sometimes a word.
    if rng.chance(0.8):
        return rng.between(1, 5)
    return rng.pick(("high", "low", "urgent"))


# key -> (weight, value maker). The weights make some keys common and others rare.
_CUSTOM_KEYS: dict[str, tuple[int, Any]] = {
    "CAC": (30, lambda r: r.randrange(10, 5000)),
    "utmCampaign": (25, lambda r: r.pick(_CAMPAIGNS)),
    "utmSource": (22, lambda r: r.pick(_SOURCES)),
    "convertedAt": (20, _timestamp),
    "pro": (20, lambda r: r.chance(0.35)),
    "salesRep": (18, lambda r: r.pick(_REPS)),
    "channel": (15, lambda r: r.pick(("Facebook", "Twitter", "Email", "Event", "Organic"))),
    "age": (8, lambda r: r.between(1, 15)),
    "lead_score": (18, lambda r: r.between(0, 100)),
    "nps": (10, lambda r: r.between(-100, 100)),
    "seats": (14, lambda r: r.between(1, 500)),
    "support_tickets": (9, lambda r: r.between(0, 40)),
    "logins_30d": (9, lambda r: r.between(0, 300)),
    "ltv_estimate": (6, lambda r: r.randrange(100, 2_000_000)),
    "last_login": (14, _timestamp),
    "renewal_date": (11, _timestamp),
    "onboarded_at": (8, _timestamp),
    "trial_ends_at": (5, _timestamp),
    "onboarded": (12, lambda r: r.chance(0.7)),
    "newsletter": (10, lambda r: r.chance(0.5)),
    "has_sso": (6, lambda r: r.chance(0.2)),
    "churn_flag": (5, lambda r: r.chance(0.1)),
    "plan_name": (16, lambda r: r.pick(_PLANS)),
    "industry": (10, lambda r: r.pick(_INDUSTRIES)),
    "region": (8, lambda r: r.pick(("EMEA", "AMER", "APAC", "LATAM"))),
    "referral_code": (4, lambda r: f"REF{r.randrange(10_000, 99_999)}"),
    "account_manager": (6, lambda r: r.pick(_REPS)),
    "segment": (7, lambda r: r.pick(("SMB", "Mid-Market", "Enterprise"))),
    "crm_id": (12, _crm_id),
    "priority": (9, _priority),
}
_CUSTOM_POOL = _weighted([(key, weight) for key, (weight, _) in _CUSTOM_KEYS.items()])

_SECTORS = (
    ("Information Technology", "Software and Services", "Software", "Application Software"),
    ("Information Technology", "Software and Services", "Internet Software & Services", "Internet Software & Services"),
    ("Financials", "Diversified Financials", "Diversified Financial Services", "Payments"),
    ("Health Care", "Health Care Equipment & Services", "Health Care Providers & Services", "Health Care Services"),
    ("Consumer Discretionary", "Retailing", "Internet & Catalog Retail", "Internet & Direct Marketing Retail"),
    ("Industrials", "Transportation", "Air Freight & Logistics", "Logistics"),
)  # fmt: skip

_EPOCH_START = 1_451_606_400  # 2016-01-01T00:00:00Z
_EPOCH_SPAN = 1_735_689_600 - _EPOCH_START  # up to 2025-01-01


def _uuid4(rng: _Draw) -> str:
    """A uuid4-shaped string from the seeded source: what ``uuid.UUID(int=..., version=4)``
    gives, without building the object (a third of the cost of a customer)."""
    bits = rng.getrandbits(128)
    bits = (bits & ~(0xF000 << 64)) | (0x4000 << 64)  # version 4
    bits = (bits & ~(0xC000 << 48)) | (0x8000 << 48)  # RFC 4122 variant
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _zip(rng: _Draw, pattern: str) -> str:
    if pattern.count("#") == len(pattern):  # the common case, cheaply: "#####" -> "04213"
        return f"{rng.randrange(10 ** len(pattern)):0{len(pattern)}d}" if pattern else ""
    letters = "ABCDEFGHJKLMNPRSTUVWXY"
    return "".join(
        str(rng.randrange(10)) if ch == "#" else rng.pick(letters) if ch == "A" else ch
        for ch in pattern
    )


def _since(rng: _Draw, offsets: tuple[int, ...]) -> str:
    """``customer-since`` as the API writes it: local time with its UTC offset."""
    instant = _EPOCH_START + rng.randrange(_EPOCH_SPAN)
    offset = rng.pick(offsets)
    local = datetime.fromtimestamp(instant, UTC) + timedelta(minutes=offset)
    if offset == 0:
        zone = "Z"
    else:
        sign = "+" if offset > 0 else "-"
        zone = f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    return local.replace(tzinfo=None).isoformat() + zone


_TO_ASCII = str.maketrans(
    {**dict(zip("äöüéèáíóúãçøōåëñ", "aoueeaiouacooaen", strict=True)), "ß": "ss"}
)


@functools.cache
def _ascii_slug(text: str) -> str:
    """Lower-case ASCII letters and digits only, for emails and domains."""
    return "".join(ch for ch in text.lower().translate(_TO_ASCII) if ch.isascii() and ch.isalnum())


def _address(rng: _Draw, country: tuple[Any, ...]) -> dict[str, str | None]:
    code, _, _, _, cities, states, _, zip_pattern = country
    roll = rng.random()
    if roll < 0.04:  # a customer imported with no address at all
        return {
            "address_line1": None,
            "address_line2": None,
            "address_zip": None,
            "city": None,
            "country": None,
            "state": None,
        }
    line2_roll = rng.random()
    line2 = (
        f"Suite {rng.randrange(1, 900)}" if line2_roll < 0.3 else None if line2_roll < 0.4 else ""
    )
    state: str | None = rng.pick(states) if states else rng.pick(("", "", None))
    return {
        "address_line1": f"{rng.randrange(1, 2000)} {rng.pick(_STREETS)}",
        "address_line2": line2,
        "address_zip": (_zip(rng, zip_pattern) if zip_pattern else "") if roll > 0.08 else None,
        "city": rng.pick(cities),
        "country": code,
        "state": state,
    }


def _clearbit(rng: _Draw, name: str, domain: str) -> dict[str, Any]:
    sector, group, industry, sub = rng.pick(_SECTORS)
    employees = rng.pick((5, 12, 40, 150, 600, 1000, 4500, 25_000))
    return {
        "id": _uuid4(rng),
        "name": name,
        "legalName": f"{name} Inc." if rng.chance(0.8) else None,
        "domain": domain,
        "url": f"http://{domain}",
        "metrics": {
            "raised": rng.randrange(100_000, 2_000_000_000) if rng.chance(0.5) else None,
            "employees": employees if rng.chance(0.9) else None,
            "googleRank": rng.between(1, 10) if rng.chance(0.7) else None,
            "alexaGlobalRank": rng.randrange(100, 5_000_000) if rng.chance(0.6) else None,
            "marketCap": rng.randrange(10**8, 10**12) if rng.chance(0.1) else None,
        },
        "category": {
            "sector": sector,
            "industryGroup": group,
            "industry": industry if rng.chance(0.9) else None,
            "subIndustry": sub if rng.chance(0.8) else None,
        },
    }


def _stripe(rng: _Draw, uid: int) -> dict[str, Any]:
    stripe: dict[str, Any] = {"uid": uid, "coupon": rng.chance(0.25)}
    if rng.chance(0.7):
        stripe["plan"] = rng.pick(_PLANS)
    if rng.chance(0.4):
        stripe["referrer"] = rng.pick(_SOURCES)
    if rng.chance(0.05):
        stripe["utm.source"] = rng.pick(_SOURCES)  # Stripe keys are not ours: dots happen
    return stripe


def _custom(rng: _Draw) -> dict[str, Any]:
    count = rng.between(2, 10)
    custom: dict[str, Any] = {}
    random, pool, size = rng.random, _CUSTOM_POOL, len(_CUSTOM_POOL)
    while len(custom) < count:  # weighted picks without replacement
        key = pool[int(random() * size)]  # rng.pick, inlined: this loop is the hot spot
        if key not in custom:
            custom[key] = _CUSTOM_KEYS[key][1](rng)
    return custom


def generate_customers(n: int, seed: int, *, id_start: int = 1) -> list[dict[str, Any]]:
    """``n`` customers in wire format, ids ``id_start .. id_start + n - 1``.

    Deterministic: the same ``(n, seed, id_start)`` gives identical customers; a larger
    ``n`` with the same seed extends a smaller one (customer ``i`` depends only on what
    came before it).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = _Draw(seed)
    customers: list[dict[str, Any]] = []
    recent_emails: collections.deque[str] = collections.deque(maxlen=50)
    uses: collections.Counter[str] = collections.Counter()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # the cyclic GC would rescan the growing list of dicts: 40% of the time
    try:
        for index in range(n):
            customers.append(_customer(rng, id_start + index, recent_emails, uses))
    finally:
        if gc_was_enabled:
            gc.enable()
    return customers


def _fresh_email(rng: _Draw, first: str, last: str, company_domain: str) -> str:
    if company_domain:
        user = rng.pick(_ROLES) if rng.chance(0.3) else f"{_ascii_slug(first)}.{_ascii_slug(last)}"
        return f"{user}@{company_domain}"
    return f"{_ascii_slug(first)}{_ascii_slug(last)}{rng.randrange(1, 99)}@{rng.pick(_FREEMAIL)}"


def _customer(
    rng: _Draw,
    customer_id: int,
    recent_emails: collections.deque[str],
    uses: collections.Counter[str],
) -> dict[str, Any]:
    """One customer; ``recent_emails`` and ``uses`` let a few share an email."""
    country = rng.pick(_COUNTRY_POOL)
    tld, legal = country[2], country[3]
    first, last = rng.pick(_FIRST_NAMES), rng.pick(_LAST_NAMES)
    stem, kind = rng.pick(_COMPANY_STEMS), rng.pick(_COMPANY_KINDS)
    company = f"{stem} {kind}"
    domain = f"{_ascii_slug(stem)}{_ascii_slug(kind)}.{tld}"
    is_company = rng.chance(0.6)
    name = f"{company} {legal}" if is_company else f"{first} {last}"

    email = ""
    share_roll = rng.random()
    if recent_emails and share_roll < 0.04:
        # Two or three customers share an email (a reseller, a re-signup, a merge).
        shared = rng.pick(recent_emails)
        if uses[shared.lower()] < 3:
            # Sometimes the same address in another letter case.
            email = shared.capitalize() if share_roll < 0.01 else shared
    if not email:
        email = _fresh_email(rng, first, last, domain if is_company else "")
        while uses[email.lower()]:  # an accidental clash: only the sharing above is intended
            user, _, host = email.partition("@")
            email = f"{user}{rng.randrange(100, 999)}@{host}"
    recent_emails.append(email)
    uses[email.lower()] += 1

    external_id = (
        str(rng.randrange(10_000_000, 99_999_999))
        if rng.chance(0.6)
        else f"cus_{rng.getrandbits(64):016x}"
    )
    tag_count = rng.pick(_TAG_COUNT_POOL)
    return {
        "id": customer_id,
        "uuid": f"cus_{_uuid4(rng)}",
        "external_id": external_id,
        "email": email,
        "name": name,
        "address": _address(rng, country),
        "customer-since": _since(rng, country[6]),
        "status": rng.pick(_STATUS_POOL),
        "attributes": {
            "custom": _custom(rng),
            "tags": rng.sample(TAG_VOCABULARY, tag_count),
            "stripe": _stripe(rng, rng.randrange(1, 10**6)) if rng.chance(0.8) else {},
            "clearbit": _clearbit(rng, company, domain) if rng.chance(0.5) else {},
        },
    }


# --- today's service ("current" dialect) -----------------------------------------------
#
# A separate generator, so the reference dialect's customers stay byte-identical. Field
# names and key order follow the Ruby client's recordings of the real service (2023): a
# list entry is the stored object less ``website_url``, which only ``GET /customers/{uuid}``
# carries.

CURRENT_STATUSES = (
    "New Lead", "Working Lead", "Qualified Lead", "Unqualified Lead", "Active", "Past Due",
    "Cancelled",
)  # fmt: skip
LEAD_STATUSES = frozenset(CURRENT_STATUSES[:4])
_CURRENT_STATUS_POOL = _weighted(
    [
        ("New Lead", 8), ("Working Lead", 5), ("Qualified Lead", 4), ("Unqualified Lead", 4),
        ("Active", 52), ("Past Due", 7), ("Cancelled", 20),
    ]
)  # fmt: skip

# code, name, currency, sign, cities, states as (code, name); None: no states in data
_CURRENT_COUNTRIES: tuple[
    tuple[str, str, str, str, tuple[str, ...], tuple[tuple[str, str], ...] | None, int], ...
] = (
    ("US", "United States", "USD", "$", ("Mountain View", "San Francisco", "New York", "Austin"),
     (("CA", "California"), ("NY", "New York"), ("TX", "Texas"), ("WA", "Washington")), 30),
    ("GB", "United Kingdom", "GBP", "£", ("London", "Manchester", "Edinburgh"), None, 10),
    ("DE", "Germany", "EUR", "€", ("Berlin", "München", "Hamburg"),
     (("BE", "Berlin"), ("BY", "Bayern"), ("HH", "Hamburg")), 9),
    ("FR", "France", "EUR", "€", ("Paris", "Lyon"), None, 5),
    ("CA", "Canada", "CAD", "$", ("Toronto", "Vancouver", "Montréal"),
     (("ON", "Ontario"), ("BC", "British Columbia"), ("QC", "Quebec")), 5),
    ("IN", "India", "INR", "₹", ("Bengaluru", "Mumbai"), (("KA", "Karnataka"), ("MH", "Maharashtra")), 5),
    ("AU", "Australia", "AUD", "$", ("Sydney", "Melbourne"),
     (("NSW", "New South Wales"), ("VIC", "Victoria")), 4),
    ("JP", "Japan", "JPY", "¥", ("Tokyo", "Osaka"), None, 3),
    ("BR", "Brazil", "BRL", "R$", ("São Paulo", "Curitiba"), (("SP", "São Paulo"), ("PR", "Paraná")), 3),
    ("CH", "Switzerland", "CHF", "CHF", ("Zürich", "Genève"), None, 2),
)  # fmt: skip
_CURRENT_COUNTRY_POOL = _weighted([(country, country[6]) for country in _CURRENT_COUNTRIES])
_SYSTEMS = _weighted([("Stripe", 6), ("Google Sheets", 2), ("Import API", 3)])
_OWNERS = ("gabi@example.com", "tom@example.com", "mei@example.com", "raj@example.com")


def current_time(instant: int) -> str:
    """A time as today's service writes ``lead_created_at`` and custom Timestamps."""
    return datetime.fromtimestamp(instant, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _current_since(instant: int) -> str:
    """``customer-since`` as recorded in today's list answers: UTC, ``+00:00``."""
    return datetime.fromtimestamp(instant, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _current_custom(rng: _Draw) -> dict[str, Any]:
    custom = _custom(rng)
    for key, value in custom.items():
        if isinstance(value, str) and len(value) == 20 and value.endswith("Z") and value[10] == "T":
            custom[key] = value[:-1] + ".000Z"  # the reference's Timestamp form, as today's
    return custom


def generate_current_customers(n: int, seed: int, *, id_start: int = 1) -> list[dict[str, Any]]:
    """``n`` customers as today's service answers them, ids ``id_start .. id_start + n - 1``.

    Deterministic from ``(n, seed, id_start)``, and a larger ``n`` extends a smaller one.
    Leads (New, Working, Qualified, Unqualified Lead) have ``customer-since`` null and
    ``mrr`` 0; ``mrr``/``arr`` are cents (``arr`` = 12 * ``mrr``); about 3% of the emails
    are ``""``; the account has three data sources.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = _Draw(seed)
    sources = [f"ds_{_uuid4(rng)}" for _ in range(3)]
    customers: list[dict[str, Any]] = []
    recent_emails: collections.deque[str] = collections.deque(maxlen=50)
    uses: collections.Counter[str] = collections.Counter()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for index in range(n):
            customers.append(_current_customer(rng, id_start + index, sources, recent_emails, uses))
    finally:
        if gc_was_enabled:
            gc.enable()
    return customers


def _current_customer(
    rng: _Draw,
    customer_id: int,
    sources: list[str],
    recent_emails: collections.deque[str],
    uses: collections.Counter[str],
) -> dict[str, Any]:
    code, country_name, currency, sign, cities, states, _ = rng.pick(_CURRENT_COUNTRY_POOL)
    first, last = rng.pick(_FIRST_NAMES), rng.pick(_LAST_NAMES)
    stem, kind = rng.pick(_COMPANY_STEMS), rng.pick(_COMPANY_KINDS)
    company = f"{stem} {kind}"
    domain = f"{_ascii_slug(stem)}{_ascii_slug(kind)}.com"
    name = company if rng.chance(0.6) else f"{first} {last}"

    email = ""
    share_roll = rng.random()
    if share_roll < 0.03:
        pass  # recorded: a customer with no email at all ("")
    elif recent_emails and share_roll < 0.07:
        shared = rng.pick(recent_emails)
        if uses[shared.lower()] < 3:
            email = shared.capitalize() if share_roll < 0.04 else shared
    if not email and share_roll >= 0.03:
        email = _fresh_email(rng, first, last, domain)
        while uses[email.lower()]:
            user, _, host = email.partition("@")
            email = f"{user}{rng.randrange(100, 999)}@{host}"
    if email:
        recent_emails.append(email)
        uses[email.lower()] += 1

    status = rng.pick(_CURRENT_STATUS_POOL)
    lead = status in LEAD_STATUSES
    lead_created = _EPOCH_START + rng.randrange(_EPOCH_SPAN)
    trial = lead_created + rng.randrange(1, 30 * 86_400) if rng.chance(0.6) else None
    since = None if lead else (trial or lead_created) + rng.randrange(0, 60 * 86_400)
    mrr = 0 if lead or status == "Cancelled" else rng.randrange(900, 250_000)

    system = rng.pick(_SYSTEMS)
    external_id = (
        f"cus_{rng.getrandbits(56):014x}"
        if system == "Stripe"
        else str(rng.randrange(10**6, 10**8))
    )
    external_ids = [external_id]
    data_source = rng.pick(sources)
    data_sources = [data_source]
    if rng.chance(0.05):  # a merged customer keeps the ids and sources of both
        external_ids.append(f"cus_{rng.getrandbits(56):014x}")
        data_sources.append(rng.pick(sources))
    state_code, state_name = rng.pick(states) if states else (None, None)
    city: str | None = rng.pick(cities)
    zip_code: str | None = f"{rng.randrange(10**5):05d}"
    if rng.chance(0.05):  # recorded: a customer with no location but an empty city
        code_or_none, country_or_none, state_code, state_name, city, zip_code = (
            None, None, None, None, "", None,
        )  # fmt: skip
    else:
        code_or_none, country_or_none = code, country_name
    slug = company.replace(" ", "_")
    tag_count = rng.pick(_TAG_COUNT_POOL)
    custom = _current_custom(rng)
    stripe = _stripe(rng, rng.randrange(1, 10**6)) if system == "Stripe" and rng.chance(0.8) else {}
    clearbit = _clearbit(rng, company, domain) if rng.chance(0.4) else {}
    return {
        "id": customer_id,
        "uuid": f"cus_{_uuid4(rng)}",
        "external_id": external_id,
        "name": name,
        "email": email,
        "status": status,
        "customer-since": None if since is None else _current_since(since),
        "attributes": {
            "custom": custom,
            "clearbit": clearbit,
            "stripe": stripe,
            "tags": rng.sample(TAG_VOCABULARY, tag_count),
        },
        "data_source_uuid": data_source,
        "data_source_uuids": data_sources,
        "external_ids": external_ids,
        "company": company,
        "country": code_or_none,
        "state": state_code,
        "city": city,
        "zip": zip_code,
        "lead_created_at": current_time(lead_created),
        "free_trial_started_at": None if trial is None else current_time(trial),
        "address": {
            "country": country_or_none,
            "state": state_name,
            "city": city,
            "address_zip": zip_code,
        },
        "mrr": mrr,
        "arr": 12 * mrr,
        "billing-system-url": (
            f"https://dashboard.stripe.com/customers/{external_id}" if system == "Stripe" else None
        ),
        "chartmogul-url": f"https://app.chartmogul.com/#/customers/{customer_id}-{slug}",
        "billing-system-type": system,
        "currency": currency,
        "currency-sign": sign,
        "owner": rng.pick(_OWNERS) if rng.chance(0.3) else None,
        "website_url": f"https://{domain}" if rng.chance(0.7) else None,
    }
