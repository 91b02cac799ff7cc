"""Identity and access management: who may do what to which resource, as AWS IAM decides it.

Every call to a cloud's API is a *request*: a principal (a user, or a role someone has
assumed), an action (``s3:GetObject``), a resource named by its ARN
(``arn:aws:s3:::payroll/2026.csv``) and a context (the caller's address,
``aws:SourceIp``; whether it came over TLS, ``aws:SecureTransport``; the time,
``aws:CurrentTime``; ...). IAM answers *allow* or *deny* by reading JSON policy documents::

    {"Version": "2012-10-17",
     "Statement": [{"Sid": "ReadReports", "Effect": "Allow",
                    "Action": ["s3:Get*", "s3:List*"],
                    "Resource": "arn:aws:s3:::reports/*",
                    "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/16"}}}]}

A statement applies to a request when its ``Action`` (or ``NotAction``) matches the
action, its ``Resource`` (or ``NotResource``) matches the ARN, its ``Principal`` (in a
resource-based policy) names the caller, and every operator of its ``Condition`` holds.
``*`` matches any run of characters and ``?`` one; actions are compared without regard to
case, ARNs with it; a ``*`` in an ARN may run past a colon (the IAM User Guide, "IAM JSON
policy elements: Resource").

The evaluation order, from the IAM User Guide's "Policy evaluation logic":

1. **explicit deny**: a ``Deny`` statement that applies, in *any* policy of the request
   (service control policies, the resource's own policy, the caller's identity
   policies, its permissions boundary, its session policy), ends it: denied;
2. **organisation SCPs**: when the caller's account is under service control policies,
   one of them must allow the action, or it is denied;
3. **resource-based policy**: within one account, an allow there is enough on its own
   when it names the caller itself (a user's ARN, a role session's ARN); one naming the
   role's ARN is still capped by the boundary and session policy below; one naming the
   whole account (``"AWS": "111122223333"`` or ``...:root``) only delegates to the
   account's own IAM policies;
4. **identity-based policies**: otherwise one of the caller's policies must allow it;
5. **permissions boundary**: if the caller has one, it must allow it too;
6. **session policy**: if the session has one, it must allow it too;
7. **implicit deny**: whatever nothing allowed is denied.

Across accounts both sides must agree: the caller's account (identity policies, SCPs,
boundary) *and* the resource's owner (its resource-based policy) must each allow; a
principal from another account is denied by default. That is the account boundary. A
role is crossed into with ``sts:AssumeRole``: the caller's policies must allow the call
and the role's *trust policy* (the role's resource-based policy) must name the caller.

Condition operators: ``StringEquals``, ``StringNotEquals``, their ``IgnoreCase`` forms,
``StringLike``, ``StringNotLike``; ``Numeric{Equals,NotEquals,LessThan,LessThanEquals,
GreaterThan,GreaterThanEquals}``; the same six for ``Date``; ``Bool``; ``IpAddress``,
``NotIpAddress``; ``ArnEquals``, ``ArnLike``, ``ArnNotEquals``, ``ArnNotLike``; ``Null``;
each (but ``Null``) with an ``...IfExists`` form. Within one operator the keys must all
hold (AND) and a key's values are alternatives (OR; NOR for a negated operator). A key
the request does not carry fails a condition, except that a negated operator then holds,
``...IfExists`` holds, and ``Null`` tests exactly that (the User Guide, "IAM JSON policy
elements: Condition operators").

Where the game simplifies: no policy variables (``${aws:username}``), no ``ForAllValues``/
``ForAnyValue`` set operators, no ``NotPrincipal``, no resource control policies, no
groups, one level of SCPs per account, no permission to be the root user; ``Principal``
names AWS principals only (``"AWS": ...`` or ``"*"``). Roles act as their one session,
``arn:aws:sts::ACCOUNT:assumed-role/ROLE/ROLE``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from .errors import CloudError
from .mechanism import events, metrics
from .world import CoreWorld, Strict

if TYPE_CHECKING:
    from .cloud import Cloud

VERSIONS = ("2012-10-17", "2008-10-17")
ACCOUNT_RE = re.compile(r"^[0-9]{12}$")
NAME_RE = re.compile(r"^[A-Za-z0-9+=,.@_-]{1,64}$")  # IAM's characters for user, role and policy names
MAX_POLICY_CHARS = 6144  # a managed policy's size limit (IAM quotas)


class PolicyError(ValueError):
    """A policy document, an ARN or a request that IAM would refuse: one line saying why."""


# -- ARNs ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Arn:
    """``arn:partition:service:region:account-id:resource`` (the resource part may hold
    colons and slashes of its own: ``key/1234``, ``user/admins/alice``)."""

    partition: str
    service: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"


def parse_arn(text: str) -> Arn:
    """An ARN as AWS writes one; PolicyError naming the part that is wrong."""
    if not isinstance(text, str):
        raise PolicyError(f"an ARN is a string, not {type(text).__name__}")
    parts = text.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        raise PolicyError(
            f"{text!r} is not an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE, e.g. arn:aws:s3:::bucket/key)"
        )
    _, partition, service, region, account, resource = parts
    if partition not in ("aws", "aws-cn", "aws-us-gov", "*"):
        raise PolicyError(f"ARN {text!r}: unknown partition {partition!r} (aws, aws-cn or aws-us-gov)")
    if not service or not re.fullmatch(r"[a-z0-9*?-]+", service):
        raise PolicyError(f"ARN {text!r}: the service part must be a service name such as s3, iam or kms")
    if account and not (re.fullmatch(r"[0-9]{12}", account) or ("*" in account or "?" in account) and re.fullmatch(r"[0-9*?]{1,12}", account)):
        raise PolicyError(f"ARN {text!r}: the account part must be a 12-digit account id (or empty), not {account!r}")
    if not resource:
        raise PolicyError(f"ARN {text!r}: the resource part is empty")
    return Arn(partition, service, region, account, resource)


@lru_cache(maxsize=8192)
def _glob(pattern: str, fold: bool) -> re.Pattern[str] | None:
    """A compiled pattern for a glob with * and ?; None when it has neither (compare as is)."""
    if "*" not in pattern and "?" not in pattern:
        return None
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL if fold else re.DOTALL)


def glob_match(pattern: str, value: str, fold: bool = False) -> bool:
    rx = _glob(pattern, fold)
    if rx is None:
        return pattern.lower() == value.lower() if fold else pattern == value
    return rx.fullmatch(value) is not None


@lru_cache(maxsize=65536)
def _resource_hit(patterns: tuple[str, ...], arn: str) -> bool:
    """Whether any of a statement's resource patterns matches an ARN (a pure function of
    the two, remembered: an evaluator sees the same few resources over and over)."""
    return any(p == "*" or glob_match(p, arn) for p in patterns)


@lru_cache(maxsize=4096)
def _arn_checked(text: str) -> Arn:
    return parse_arn(text)


@lru_cache(maxsize=4096)
def _action_ok(action: str) -> bool:
    return re.fullmatch(r"[A-Za-z0-9-]+:[A-Za-z0-9]+", action) is not None


# -- conditions ------------------------------------------------------------------------------
STRING_OPS = ("StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike", "StringNotLike")
NUMERIC_OPS = tuple(f"Numeric{s}" for s in ("Equals", "NotEquals", "LessThan", "LessThanEquals", "GreaterThan", "GreaterThanEquals"))
DATE_OPS = tuple(f"Date{s}" for s in ("Equals", "NotEquals", "LessThan", "LessThanEquals", "GreaterThan", "GreaterThanEquals"))
OTHER_OPS = ("Bool", "IpAddress", "NotIpAddress", "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike", "Null")
OPERATORS = STRING_OPS + NUMERIC_OPS + DATE_OPS + OTHER_OPS
NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "NumericNotEquals", "DateNotEquals", "NotIpAddress", "ArnNotEquals", "ArnNotLike"}
_COMPARE = {
    "Equals": lambda a, b: a == b,
    "NotEquals": lambda a, b: a == b,  # negated: matched as Equals, then NOR
    "LessThan": lambda a, b: a < b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanEquals": lambda a, b: a >= b,
}


_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?"
)


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm); the
    simulation keeps no wall clock, so it does its own calendar arithmetic."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(z: int) -> tuple[int, int, int]:
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (m <= 2), m, d


def parse_date(text: str) -> int:
    """ISO 8601 (``2026-01-01T00:00:00Z``, ``2026-01-01``, with an offset) or seconds since
    the epoch, as whole seconds since the epoch (UTC)."""
    text = str(text).strip()
    if re.fullmatch(r"[0-9]{1,12}", text):
        return int(text)
    m = _ISO.fullmatch(text)
    if m is None:
        raise PolicyError(f"{text!r} is not a date (ISO 8601 like 2026-01-01T00:00:00Z, or epoch seconds)")
    y, mo, d, hh, mm, ss, tz = m.groups()
    y, mo, d = int(y), int(mo), int(d)
    month_days = [31, 29 if (y % 4 == 0 and y % 100) or y % 400 == 0 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    hh_i, mm_i, ss_i = int(hh or 0), int(mm or 0), int(ss or 0)
    if not 1 <= mo <= 12 or not 1 <= d <= month_days[mo - 1] or hh_i > 23 or mm_i > 59 or ss_i > 60:
        raise PolicyError(f"{text!r} is not a date: no such day or time")
    offset = 0
    if tz and tz != "Z":
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return _days_from_civil(y, mo, d) * 86400 + hh_i * 3600 + mm_i * 60 + ss_i - offset


def format_date(epoch: int) -> str:
    days, secs = divmod(epoch, 86400)
    y, m, d = _civil_from_days(days)
    return f"{y:04d}-{m:02d}-{d:02d}T{secs // 3600:02d}:{secs % 3600 // 60:02d}:{secs % 60:02d}Z"


def _number(text: str) -> float:
    try:
        return float(str(text).strip())
    except ValueError:
        raise PolicyError(f"{text!r} is not a number") from None


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(str(text).strip(), strict=False)
    except ValueError:
        raise PolicyError(f"{text!r} is not an IP address or CIDR block (e.g. 203.0.113.0/24)") from None


@dataclass(frozen=True)
class Condition:
    """One key of one operator: ``{"StringEquals": {"aws:PrincipalTag/team": ["a", "b"]}}``."""

    operator: str  # as written, e.g. StringLikeIfExists
    base: str  # without IfExists
    key: str
    values: tuple[str, ...]
    if_exists: bool
    parsed: tuple = ()  # the values converted once: numbers, dates, networks, booleans

    def holds(self, context: dict[str, tuple[str, ...]]) -> bool:
        base = self.base
        present = context.get(self.key)
        if base == "Null":
            want_absent = self.parsed[0]
            return (present is None) == want_absent
        if present is None:
            return self.if_exists or base in NEGATED
        negated = base in NEGATED
        hit = any(self._one(base, v) for v in present)
        return not hit if negated else hit

    def _one(self, base: str, value: str) -> bool:
        """Whether one request value matches any of the policy's values (the OR)."""
        try:
            if base in ("StringEquals", "StringNotEquals"):
                return value in self.values
            if base in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
                low = value.lower()
                return any(low == v.lower() for v in self.values)
            if base in ("StringLike", "StringNotLike"):
                return any(glob_match(v, value) for v in self.values)
            if base.startswith("Numeric"):
                cmp = _COMPARE[base[len("Numeric") :]]
                x = _number(value)
                return any(cmp(x, v) for v in self.parsed)
            if base.startswith("Date"):
                cmp = _COMPARE[base[len("Date") :]]
                x = parse_date(value)
                return any(cmp(x, v) for v in self.parsed)
            if base == "Bool":
                return value.lower() in self.parsed
            if base in ("IpAddress", "NotIpAddress"):
                ip = ipaddress.ip_address(value.strip())
                return any(ip.version == n.version and ip in n for n in self.parsed)
            if base in ("ArnEquals", "ArnNotEquals", "ArnLike", "ArnNotLike"):
                return any(glob_match(v, value) for v in self.values)
        except (PolicyError, ValueError):
            return False  # a request value of the wrong type matches nothing
        return False


def _condition(op: str, key: str, raw: Any, where: str) -> Condition:
    base = op[: -len("IfExists")] if op.endswith("IfExists") else op
    if base not in OPERATORS or (op.endswith("IfExists") and base == "Null"):
        raise PolicyError(
            f"{where}: unknown condition operator {op!r} (e.g. StringEquals, StringLike, NumericLessThan, "
            "DateLessThan, Bool, IpAddress, ArnLike, Null, each but Null with IfExists)"
        )
    if not isinstance(key, str) or not key:
        raise PolicyError(f"{where}: a condition key must be a name such as aws:SourceIp")
    values = raw if isinstance(raw, list) else [raw]
    if not values:
        raise PolicyError(f"{where}: {op} {key} has no values")
    out: list[str] = []
    for v in values:
        if isinstance(v, bool):
            out.append("true" if v else "false")
        elif isinstance(v, (str, int, float)):
            out.append(str(v))
        else:
            raise PolicyError(f"{where}: {op} {key}: a value must be a string, number or boolean, not {type(v).__name__}")
    parsed: tuple = ()
    context = f"{where}: {op} {key}"
    try:
        if base.startswith("Numeric"):
            parsed = tuple(_number(v) for v in out)
        elif base.startswith("Date"):
            parsed = tuple(parse_date(v) for v in out)
        elif base in ("IpAddress", "NotIpAddress"):
            parsed = tuple(_network(v) for v in out)
        elif base == "Bool":
            bad = [v for v in out if v.lower() not in ("true", "false")]
            if bad:
                raise PolicyError(f"{bad[0]!r} is not true or false")
            parsed = tuple(v.lower() for v in out)
        elif base == "Null":
            if len(out) != 1 or out[0].lower() not in ("true", "false"):
                raise PolicyError("Null takes one value, true (the key is absent) or false (it is present)")
            parsed = (out[0].lower() == "true",)
        elif base.startswith("Arn"):
            for v in out:
                if v != "*":
                    parse_arn(v)
    except PolicyError as exc:
        raise PolicyError(f"{context}: {exc}") from None
    return Condition(op, base, key, tuple(out), op.endswith("IfExists"), parsed)


# -- statements and policies -------------------------------------------------------------------
@dataclass(frozen=True)
class Statement:
    index: int  # 1-based, as a reader counts them
    sid: str
    effect: Literal["Allow", "Deny"]
    actions: tuple[str, ...] = ()
    not_action: bool = False
    resources: tuple[str, ...] = ()
    not_resource: bool = False
    principals: tuple[str, ...] | None = None  # resource-based policies: "*" or AWS principals
    conditions: tuple[Condition, ...] = ()

    @property
    def label(self) -> str:
        return self.sid or f"#{self.index}"

    def matches_action(self, action: str) -> bool:
        hit = any(glob_match(p, action, fold=True) for p in self.actions)
        return not hit if self.not_action else hit

    def matches_resource(self, arn: str) -> bool:
        hit = _resource_hit(self.resources, arn)
        return not hit if self.not_resource else hit

    def conditions_hold(self, context: dict[str, tuple[str, ...]]) -> bool:
        return all(c.holds(context) for c in self.conditions)

    def text(self) -> str:
        """One line: Effect Action on Resource [if ...]."""
        acts = ("NOT " if self.not_action else "") + ",".join(self.actions)
        res = ("NOT " if self.not_resource else "") + ",".join(self.resources)
        who = f" for {','.join(self.principals)}" if self.principals is not None else ""
        cond = ""
        if self.conditions:
            cond = " if " + " and ".join(f"{c.operator} {c.key} {'|'.join(c.values)}" for c in self.conditions)
        return f"{self.effect} {acts} on {res}{who}{cond}"


@dataclass
class Policy:
    name: str
    version: str
    statements: tuple[Statement, ...]
    source: str  # the document as written
    _by_action: dict[str, tuple[Statement, ...]] = field(default_factory=dict, repr=False)

    def for_action(self, action: str) -> tuple[Statement, ...]:
        """The statements whose Action element matches (an index kept per action, as an
        evaluator that sees the same few hundred actions all day would)."""
        key = action.lower()
        found = self._by_action.get(key)
        if found is None:
            found = tuple(s for s in self.statements if s.matches_action(action))
            if len(self._by_action) < 4096:
                self._by_action[key] = found
        return found


def _strings(value: Any, where: str, what: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise PolicyError(f"{where}: {what} is an empty list")
    for v in items:
        if not isinstance(v, str) or not v:
            raise PolicyError(f"{where}: every {what} must be a non-empty string")
    return tuple(items)


def _principals(value: Any, where: str) -> tuple[str, ...]:
    if value == "*":
        return ("*",)
    if not isinstance(value, dict) or not value:
        raise PolicyError(f'{where}: Principal must be "*" or {{"AWS": ARN, account id or a list of them}}')
    unknown = [k for k in value if k != "AWS"]
    if unknown:
        raise PolicyError(f"{where}: Principal {unknown[0]!r} is not modelled here (use \"AWS\")")
    out = []
    for p in _strings(value["AWS"], where, "principal"):
        if p == "*" or ACCOUNT_RE.match(p):
            out.append(p)
            continue
        arn = parse_arn(p)
        if arn.service not in ("iam", "sts"):
            raise PolicyError(f"{where}: principal {p!r} is not an IAM or STS ARN")
        out.append(p)
    return tuple(out)


_STATEMENT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition", "Principal", "NotPrincipal"}


def _statement(raw: Any, index: int, name: str, resource_based: bool) -> Statement:
    where = f"policy {name} statement {index}"
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: a statement is a JSON object")
    unknown = sorted(set(raw) - _STATEMENT_KEYS)
    if unknown:
        raise PolicyError(f"{where}: unknown element {unknown[0]!r} (Sid, Effect, Action/NotAction, Resource/NotResource, Principal, Condition)")
    sid = raw.get("Sid", "")
    if not isinstance(sid, str) or (sid and not re.fullmatch(r"[A-Za-z0-9]+", sid)):
        raise PolicyError(f"{where}: Sid must be letters and digits only")
    where = f"policy {name} statement {sid or index}"
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"{where}: Effect must be \"Allow\" or \"Deny\", not {effect!r}")
    if ("Action" in raw) == ("NotAction" in raw):
        raise PolicyError(f"{where}: give exactly one of Action and NotAction")
    if ("Resource" in raw) == ("NotResource" in raw):
        raise PolicyError(f"{where}: give exactly one of Resource and NotResource")
    not_action = "NotAction" in raw
    actions = _strings(raw["NotAction" if not_action else "Action"], where, "action")
    for a in actions:
        if a != "*" and not re.fullmatch(r"[A-Za-z0-9-]+:[A-Za-z0-9*?]+", a):
            raise PolicyError(f"{where}: action {a!r} is not service:Action (e.g. s3:GetObject, s3:Get*, or *)")
    not_resource = "NotResource" in raw
    resources = _strings(raw["NotResource" if not_resource else "Resource"], where, "resource")
    for r in resources:
        if r != "*":
            try:
                parse_arn(r)
            except PolicyError as exc:
                raise PolicyError(f"{where}: {exc}") from None
    if "NotPrincipal" in raw:
        raise PolicyError(f"{where}: NotPrincipal is not modelled here (AWS advises against it; name the principals)")
    principals: tuple[str, ...] | None = None
    if "Principal" in raw:
        if not resource_based:
            raise PolicyError(f"{where}: an identity-based policy has no Principal (it applies to whoever it is attached to)")
        principals = _principals(raw["Principal"], where)
    elif resource_based:
        raise PolicyError(f"{where}: a resource-based policy must name a Principal")
    conditions: list[Condition] = []
    cond = raw.get("Condition", {})
    if not isinstance(cond, dict):
        raise PolicyError(f"{where}: Condition is an object of operators")
    for op, block in cond.items():
        if not isinstance(block, dict) or not block:
            raise PolicyError(f"{where}: Condition {op} must map keys to values")
        for key, values in block.items():
            conditions.append(_condition(op, key, values, where))
    return Statement(index, sid, effect, actions, not_action, resources, not_resource, principals, tuple(conditions))


def parse_policy(text: str, name: str = "policy", resource_based: bool | None = False) -> Policy:
    """A policy document as IAM reads it. Malformed JSON is refused with the line, column
    and character of the error, as a JSON parser reports it. ``resource_based`` None
    lets the document say which it is (its statements all name a Principal, or none does)."""
    if not isinstance(text, str):
        raise PolicyError(f"policy {name}: a policy document is JSON text")
    if len(text) > MAX_POLICY_CHARS:
        raise PolicyError(f"policy {name}: {len(text)} characters; a managed policy may have at most {MAX_POLICY_CHARS}")
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise PolicyError(f"policy {name}: not valid JSON at line {exc.lineno} column {exc.colno} (character {exc.pos + 1}): {exc.msg}") from None
    except _Duplicate as exc:
        raise PolicyError(f"policy {name}: {exc}") from None
    if not isinstance(doc, dict):
        raise PolicyError(f"policy {name}: a policy document is a JSON object with Version and Statement")
    unknown = sorted(set(doc) - {"Version", "Statement", "Id"})
    if unknown:
        raise PolicyError(f"policy {name}: unknown top-level element {unknown[0]!r} (Version, Id, Statement)")
    version = doc.get("Version", "2008-10-17")
    if version not in VERSIONS:
        raise PolicyError(f"policy {name}: Version must be \"2012-10-17\" (or the old \"2008-10-17\"), not {version!r}")
    if "Statement" not in doc:
        raise PolicyError(f"policy {name}: no Statement")
    raw = doc["Statement"]
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise PolicyError(f"policy {name}: Statement is empty")
    if resource_based is None:
        resource_based = isinstance(items[0], dict) and "Principal" in items[0]
    statements = tuple(_statement(s, i + 1, name, resource_based) for i, s in enumerate(items))
    sids = [s.sid for s in statements if s.sid]
    dupes = sorted({s for s in sids if sids.count(s) > 1})
    if dupes:
        raise PolicyError(f"policy {name}: Sid {dupes[0]!r} is used twice (a Sid must be unique in its policy)")
    return Policy(name, version, statements, text)


class _Duplicate(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _Duplicate(f"the key {k!r} appears twice in one object")
        out[k] = v
    return out


# -- principals and requests --------------------------------------------------------------------
@dataclass
class Principal:
    """An IAM user or role. A role's ``trust`` is its trust policy: who may assume it."""

    name: str
    kind: Literal["user", "role"]
    account: str
    policies: list[str] = field(default_factory=list)  # identity-based, attached
    boundary: str | None = None
    session: str | None = None  # a session policy passed when the role was assumed
    trust: str | None = None

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:{self.kind}/{self.name}"

    @property
    def session_arn(self) -> str:
        if self.kind == "role":
            return f"arn:aws:sts::{self.account}:assumed-role/{self.name}/{self.name}"
        return self.arn


Decided = Literal["allow", "explicit-deny", "implicit-deny"]


@dataclass(frozen=True)
class Decision:
    """What IAM answered and why: the deciding policy and statement (for an allow or an
    explicit deny), or the step where nothing allowed (for an implicit deny)."""

    decision: Decided
    policy: str = ""
    kind: str = ""  # scp | resource | identity | boundary | session | account
    statement: str = ""
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"

    def headline(self) -> str:
        word = {"allow": "ALLOWED", "explicit-deny": "DENIED (explicit deny)", "implicit-deny": "DENIED (implicit deny)"}[self.decision]
        mark = "✔" if self.allowed else "✘"
        by = f" by {self.kind} policy {self.policy} statement {self.statement}" if self.policy else ""
        return f"{mark} {word}{by}: {self.reason}"


@dataclass
class Evaluation:
    """The policies that bear on one request, sorted by kind."""

    scps: list[Policy] = field(default_factory=list)
    resource: Policy | None = None
    identity: list[Policy] = field(default_factory=list)
    boundary: Policy | None = None
    session: Policy | None = None

    @cached_property
    def ordered(self) -> list[tuple[str, Policy]]:
        """(kind, policy) in the order IAM reads them."""
        out = [("scp", p) for p in self.scps]
        if self.resource is not None:
            out.append(("resource", self.resource))
        out += [("identity", p) for p in self.identity]
        if self.boundary is not None:
            out.append(("boundary", self.boundary))
        if self.session is not None:
            out.append(("session", self.session))
        return out


def _principal_named(stmt: Statement, who: Principal) -> str:
    """How a resource-based statement names the caller: "self" (its own ARN or session
    ARN, or "*"), "role" (the role's ARN), "account" (its whole account), or ""."""
    assert stmt.principals is not None
    found = ""
    for p in stmt.principals:
        if p == "*" or p in (who.session_arn,) or (who.kind == "user" and p == who.arn):
            return "self"
        if who.kind == "role" and p == who.arn:
            found = "role"
        elif (p == who.account or p == f"arn:aws:iam::{who.account}:root") and not found:
            found = "account"
    return found


def evaluate(
    who: Principal, action: str, resource: str, context: dict[str, tuple[str, ...]], policies: Evaluation, resource_account: str,
    resource_must_allow: bool = False,
) -> Decision:
    """Decide one request in the order of the IAM User Guide (module docstring).

    ``resource_must_allow`` is KMS's rule: a key's own policy must allow the request (by
    naming the caller, or its account to hand the decision to IAM) even within its
    account; IAM policies alone never open a key."""
    allows: dict[str, tuple[Policy, Statement]] = {}
    # Every policy that bears on the request, in the order of the evaluation; the first
    # Deny that applies anywhere decides, so one pass finds it and notes the allows.
    for kind, policy in policies.ordered:
        for st in policy.for_action(action):
            if not st.matches_resource(resource):
                continue
            if st.conditions and not all(c.holds(context) for c in st.conditions):
                continue
            how = "self"
            if st.principals is not None:
                how = _principal_named(st, who)
                if not how:
                    continue
            if st.effect == "Deny":
                return Decision("explicit-deny", policy.name, kind, st.label, f"{st.text()}: an explicit deny beats every allow")
            key = kind if kind != "resource" else f"resource-{how}"
            if key not in allows:
                allows[key] = (policy, st)

    if policies.scps and "scp" not in allows:
        names = ", ".join(p.name for p in policies.scps)
        return Decision("implicit-deny", names, "scp", "", f"no service control policy of account {who.account} allows {action}")
    cross = who.account != resource_account or resource_must_allow

    def allowed_by(key: str, why: str) -> Decision:
        policy, st = allows[key]
        return Decision("allow", policy.name, key.split("-")[0], st.label, f"{st.text()}{why}")

    if not cross and "resource-self" in allows:
        return allowed_by("resource-self", " (a resource-based policy naming the caller is enough in its own account)")
    identity_ok = "identity" in allows or (not cross and "resource-role" in allows)
    if cross:
        if not any(k in allows for k in ("resource-self", "resource-role", "resource-account")):
            if who.account == resource_account:
                return Decision(
                    "implicit-deny", policies.resource.name if policies.resource else "", "resource", "",
                    f"the key policy of {resource.rsplit('/', 1)[-1]} does not allow {who.name} {action} "
                    "(for a KMS key, IAM policies count only where the key policy lets them)",
                )
            return Decision(
                "implicit-deny", policies.resource.name if policies.resource else "", "account", "",
                f"{resource} belongs to account {resource_account}, not {who.account}: across the account boundary "
                "the resource's own policy must allow the caller, and none does",
            )
        if who.account == resource_account and "resource-account" not in allows:
            pass  # the key policy names the caller itself: that is enough (boundary and session still cap a role)
        elif "identity" not in allows:
            return Decision("implicit-deny", "", "identity", "", f"the resource allows it, but no identity policy of {who.name} allows {action}")
    elif not identity_ok:
        return Decision("implicit-deny", "", "identity", "", f"no policy allows {action} on {resource}: denied by default")
    if policies.boundary is not None and "boundary" not in allows:
        return Decision("implicit-deny", policies.boundary.name, "boundary", "", f"the permissions boundary {policies.boundary.name} does not allow {action}")
    if policies.session is not None and "session" not in allows:
        return Decision("implicit-deny", policies.session.name, "session", "", f"the session policy {policies.session.name} does not allow {action}")
    if cross:
        key = next(k for k in ("resource-self", "resource-role", "resource-account") if k in allows)
        if who.account == resource_account:
            if key == "resource-account":
                return allowed_by("identity", " (the key policy hands the decision to the account's IAM policies)")
            return allowed_by(key, " (the key policy names the caller)")
        return allowed_by(key, f" (and {who.name}'s own policies allow it: both sides of the account boundary agree)")
    if "identity" in allows:
        return allowed_by("identity", "")
    return allowed_by("resource-role", " (a resource-based policy naming the role)")


# -- the world section --------------------------------------------------------------------------
class AccountSpec(Strict):
    id: str = Field(pattern=r"^[0-9]{12}$", description="the 12-digit account id")
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    scps: list[str] = Field(default_factory=list, description="service control policies over the account's principals")


class PolicySpec(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9+=,.@_-]{1,64}$")
    document: str = Field(description="the policy document, as JSON text")


class PrincipalSpec(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9+=,.@_-]{1,64}$")
    kind: Literal["user", "role"] = "user"
    account: str = Field(pattern=r"^[0-9]{12}$")
    policies: list[str] = Field(default_factory=list)
    boundary: str | None = None
    session: str | None = None
    trust: str | None = Field(default=None, description="a role's trust policy: who may assume it")
    needs: list[str] = Field(default_factory=list, description="'ACTION RESOURCE' pairs the principal's job needs (least privilege)")


class ResourceSpec(Strict):
    arn: str
    account: str | None = Field(default=None, pattern=r"^[0-9]{12}$", description="its owner, when its ARN has no account (S3)")
    policy: str | None = Field(default=None, description="its resource-based policy (a bucket policy, a key policy)")


class IamSpec(Strict):
    """The world's ``iam`` section: accounts, policy documents, users and roles, resources."""

    now: str = Field(default="2026-01-01T09:00:00Z", description="aws:CurrentTime when the story starts")
    accounts: list[AccountSpec] = Field(min_length=1)
    policies: list[PolicySpec] = Field(default_factory=list)
    principals: list[PrincipalSpec] = Field(default_factory=list)
    resources: list[ResourceSpec] = Field(default_factory=list)
    actions: list[str] = Field(default_factory=list, description="actions a sweep tries besides the catalogue's")

    @model_validator(mode="after")
    def _builds(self) -> "IamSpec":
        try:
            IamService(None, self)
        except CloudError as exc:
            raise ValueError(exc.message) from None
        return self


# The actions a sweep tries: real action names of the services the chapters use.
CATALOGUE = (
    "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket", "s3:GetBucketPolicy", "s3:PutBucketPolicy",
    "s3:DeleteBucket", "kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:CreateKey",
    "kms:DisableKey", "kms:ScheduleKeyDeletion", "kms:PutKeyPolicy", "iam:PassRole", "iam:CreateUser",
    "iam:AttachRolePolicy", "iam:PutRolePolicy", "sts:AssumeRole", "ec2:RunInstances", "ec2:TerminateInstances",
    "ec2:DescribeInstances", "ec2:CreateSnapshot", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Scan",
    "dynamodb:DeleteTable",
)  # fmt: skip

POLICY_KINDS = ("identity", "boundary", "session", "trust", "resource", "scp")


def parse_context(text: str) -> dict[str, tuple[str, ...]]:
    """``aws:SourceIp=10.0.1.5,aws:SecureTransport=true``: keys and values for a request
    (a key given twice has two values)."""
    out: dict[str, list[str]] = {}
    for part in (p for p in re.split(r"[,\s]+", text.strip()) if p):
        key, eq, value = part.partition("=")
        if not eq or not key or not value:
            raise PolicyError(f"context {part!r} is not KEY=VALUE (e.g. aws:SourceIp=203.0.113.7,aws:SecureTransport=true)")
        out.setdefault(key, []).append(value)
    return {k: tuple(v) for k, v in out.items()}


class IamService:
    """Accounts, policies, principals and resources, and the decisions made on them."""

    def __init__(self, cloud: "Cloud | None", spec: IamSpec) -> None:
        self.cloud = cloud
        self.start = parse_date(spec.now)
        self.accounts: dict[str, AccountSpec] = {}
        self.policies: dict[str, Policy] = {}
        self.principals: dict[str, Principal] = {}
        self.resources: dict[str, str | None] = {}  # ARN -> its resource-based policy
        self.owners: dict[str, str] = {}  # ARN -> owning account, for ARNs without one
        self.needs: dict[str, set[tuple[str, str]]] = {}
        self.extra_actions = list(spec.actions)
        self.simulations = 0
        self.allowed = 0
        self.denied = 0
        self.last: Decision | None = None
        self.last_request: tuple[str, str, str] | None = None
        self.sweeps: dict[str, tuple[int, int, int]] = {}  # principal -> (allowed, extra, missing)
        self.changes = 0
        self._context_cache: tuple[tuple[str, int], dict[str, tuple[str, ...]]] | None = None
        self._evaluations: dict[tuple[str, str, str], Evaluation] = {}
        try:
            self._build(spec)
        except PolicyError as exc:
            raise CloudError("MalformedPolicyDocument", str(exc)) from None

    def _build(self, spec: IamSpec) -> None:
        for a in spec.accounts:
            if a.id in self.accounts:
                raise PolicyError(f"account {a.id} is listed twice")
            self.accounts[a.id] = a
        names = {a.name for a in spec.accounts}
        if len(names) != len(spec.accounts):
            raise PolicyError("two accounts share a name")
        for p in spec.policies:
            if p.name in self.policies:
                raise PolicyError(f"policy {p.name} is defined twice")
            self.policies[p.name] = parse_policy(p.document, p.name, resource_based=None)
        for a in spec.accounts:
            for s in a.scps:
                self._policy(s, "scp")
        for r in spec.principals:
            if r.name in self.principals:
                raise PolicyError(f"principal {r.name} is defined twice")
            if r.account not in self.accounts:
                raise PolicyError(f"principal {r.name}: no account {r.account} (accounts: {', '.join(self.accounts)})")
            for name in r.policies:
                self._policy(name, "identity")
            for name, kind in ((r.boundary, "boundary"), (r.session, "session"), (r.trust, "trust")):
                if name is not None:
                    self._policy(name, kind)
            if r.kind == "user" and (r.trust or r.session):
                raise PolicyError(f"principal {r.name}: only a role has a trust policy or a session policy")
            self.principals[r.name] = Principal(r.name, r.kind, r.account, list(r.policies), r.boundary, r.session, r.trust)
            needs = set()
            for pair in r.needs:
                action, _, arn = pair.partition(" ")
                parse_arn(arn.strip())
                needs.add((action.strip(), arn.strip()))
            self.needs[r.name] = needs
        for res in spec.resources:
            parse_arn(res.arn)
            if res.policy is not None:
                self._policy(res.policy, "resource")
            self.resources[res.arn] = res.policy
            if res.account is not None:
                if res.account not in self.accounts:
                    raise PolicyError(f"resource {res.arn}: no account {res.account}")
                self.owners[res.arn] = res.account

    def _policy(self, name: str, kind: str) -> Policy:
        p = self.policies.get(name)
        if p is None:
            raise PolicyError(f"no policy named {name!r} for the {kind} policy (policies: {', '.join(sorted(self.policies)) or 'none'})")
        resource_based = kind in ("resource", "trust")
        if resource_based != any(s.principals is not None for s in p.statements):
            if resource_based:
                raise PolicyError(f"policy {name} has no Principal: it cannot be a {kind} policy")
            raise PolicyError(f"policy {name} names a Principal: it is a resource-based policy, not a {kind} policy")
        return p

    # -- lookups -------------------------------------------------------------------------
    def principal(self, name: str) -> Principal:
        p = self.principals.get(name)
        if p is None:
            raise CloudError("NoSuchEntity", f"no user or role named {name!r} (principals: {', '.join(sorted(self.principals)) or 'none'})")
        return p

    def policy(self, name: str) -> Policy:
        p = self.policies.get(name)
        if p is None:
            raise CloudError("NoSuchEntity", f"no policy named {name!r} (policies: {', '.join(sorted(self.policies)) or 'none'})")
        return p

    def account_of(self, arn: str) -> str:
        """The account that owns a resource: its ARN's account part, or (S3's ARNs have
        none) the owner the world gives the resource, or the world's first account."""
        parsed = _arn_checked(arn)
        if parsed.account:
            return parsed.account
        owner = self.owners.get(arn)
        if owner is None:
            owner = next((o for known, o in self.owners.items() if glob_match(known, arn)), None)
        return owner or next(iter(self.accounts))

    def resource_policy(self, arn: str) -> Policy | None:
        """The resource-based policy of the resource an ARN names: an exact entry, or the
        entry whose ARN pattern covers it (a bucket policy covers the bucket's objects)."""
        name = self.resources.get(arn)
        if name is None:
            for known, policy in self.resources.items():
                if policy and glob_match(known, arn):
                    name = policy
                    break
        return self.policies[name] if name else None

    def now(self) -> int:
        """aws:CurrentTime, in epoch seconds: the world's start plus the simulated clock."""
        ms = self.cloud.now_ms if self.cloud is not None else 0
        return self.start + ms // 1000

    def context_for(self, who: Principal, extra: dict[str, tuple[str, ...]] | None = None) -> dict[str, tuple[str, ...]]:
        """The request context IAM fills in itself, then what the caller brings."""
        key = (who.name, self.now())
        if self._context_cache is not None and self._context_cache[0] == key:
            ctx = dict(self._context_cache[1])
            if extra:
                ctx.update(extra)
            return ctx
        ctx = self._base_context(who)
        self._context_cache = (key, dict(ctx))
        if extra:
            ctx.update(extra)
        return ctx

    def _base_context(self, who: Principal) -> dict[str, tuple[str, ...]]:
        ctx: dict[str, tuple[str, ...]] = {
            "aws:CurrentTime": (format_date(self.now()),),
            "aws:EpochTime": (str(self.now()),),
            "aws:PrincipalAccount": (who.account,),
            "aws:PrincipalArn": (who.arn,),
            "aws:PrincipalType": ("User" if who.kind == "user" else "AssumedRole",),
        }
        if who.kind == "user":
            ctx["aws:username"] = (who.name,)
        return ctx

    def invalidate(self) -> None:
        """Forget what was worked out from the policies and attachments (they changed)."""
        self._evaluations.clear()
        for p in self.policies.values():
            p._by_action.clear()

    def policies_for(self, who: Principal, resource: str, trust_of: Principal | None = None) -> Evaluation:
        key = (who.name, resource, trust_of.name if trust_of is not None else "")
        found = self._evaluations.get(key)
        if found is None:
            found = self._policies_for(who, resource, trust_of)
            if len(self._evaluations) > 8192:
                self._evaluations.clear()
            self._evaluations[key] = found
        return found

    def _policies_for(self, who: Principal, resource: str, trust_of: Principal | None) -> Evaluation:
        acct = self.accounts[who.account]
        return Evaluation(
            scps=[self.policies[n] for n in acct.scps],
            resource=self.policies[trust_of.trust] if trust_of is not None and trust_of.trust else self.resource_policy(resource),
            identity=[self.policies[n] for n in who.policies],
            boundary=self.policies[who.boundary] if who.boundary else None,
            session=self.policies[who.session] if who.session else None,
        )

    # -- decisions -----------------------------------------------------------------------
    def decide(
        self, principal: str, action: str, resource: str, context: dict[str, tuple[str, ...]] | None = None,
        record: bool = True, source: str = "simulate",
    ) -> Decision:
        """One request, decided. ``record`` counts it and logs an ``iam.decided`` event."""
        who = self.principal(principal)
        if not isinstance(action, str) or not _action_ok(action):
            raise CloudError("InvalidInput", f"action {action!r} is not service:Action (e.g. s3:GetObject)")
        try:
            _arn_checked(resource)
        except PolicyError as exc:
            raise CloudError("InvalidInput", str(exc)) from None
        trust_of = None
        if action.lower() == "sts:assumerole":
            trust_of = self._role_by_arn(resource)
        ctx = self.context_for(who, context)
        owner = trust_of.account if trust_of is not None else self.account_of(resource)
        is_key = resource.startswith("arn:aws:kms:") and ":key/" in resource
        d = evaluate(who, action, resource, ctx, self.policies_for(who, resource, trust_of), owner, resource_must_allow=is_key)
        if trust_of is not None and d.allowed and not trust_of.trust:
            d = Decision("implicit-deny", "", "resource", "", f"role {trust_of.name} has no trust policy: nobody may assume it")
        if record:
            self.simulations += 1
            self.allowed += int(d.allowed)
            self.denied += int(not d.allowed)
            self.last, self.last_request = d, (principal, action, resource)
            if self.cloud is not None:
                self.cloud.emit(
                    "iam.decided", principal=principal, action=action, resource=resource, decision=d.decision,
                    policy=d.policy, by=d.kind, statement=d.statement, source=source,
                )
        return d

    def _role_by_arn(self, arn: str) -> Principal:
        for p in self.principals.values():
            if p.kind == "role" and p.arn == arn:
                return p
        roles = ", ".join(p.arn for p in self.principals.values() if p.kind == "role") or "none"
        raise CloudError("NoSuchEntity", f"sts:AssumeRole needs a role's ARN; {arn} is none (roles: {roles})")

    def sweep_pairs(self, principal: str) -> list[tuple[str, str]]:
        """Every (action, resource) a sweep tries: the catalogue's actions, the world's own,
        and what the principal needs, against every resource the world names."""
        actions = sorted(set(CATALOGUE) | set(self.extra_actions) | {a for a, _ in self.needs.get(principal, ())}, key=str.lower)
        resources = sorted(set(self.resources) | {r for _, r in self.needs.get(principal, ())})
        return [(a, r) for a in actions for r in resources if not r.endswith(":root")]

    def sweep(self, principal: str, context: dict[str, tuple[str, ...]] | None = None) -> tuple[list[tuple[str, str, Decision]], set, set]:
        """The policy simulator over every action and resource: what is allowed, what is
        allowed beyond the principal's needs, and what it needs but is denied."""
        who = self.principal(principal)
        rows = []
        for action, resource in self.sweep_pairs(principal):
            try:
                d = self.decide(who.name, action, resource, context, record=False)
            except CloudError:
                continue
            rows.append((action, resource, d))
        needs = self.needs.get(principal, set())
        allowed = {(a, r) for a, r, d in rows if d.allowed}
        extra = allowed - needs
        missing = {n for n in needs if n not in allowed}
        self.sweeps[principal] = (len(allowed), len(extra), len(missing))
        if self.cloud is not None:
            self.cloud.emit("iam.swept", principal=principal, tried=len(rows), allowed=len(allowed), extra=len(extra), missing=len(missing))
        return rows, extra, missing

    # -- changes through the API ---------------------------------------------------------
    def _changed(self, action: str, detail: str) -> None:
        self.changes += 1
        self.invalidate()
        if self.cloud is not None:
            self.cloud.api_call(action)
            self.cloud.emit("iam.changed", action=action, detail=detail)

    def put_policy(self, name: str, text: str) -> tuple[Policy, bool]:
        """CreatePolicy, or a new default version of an existing one. A policy in use as a
        trust or resource policy must stay resource-based, and an identity one must not."""
        if not NAME_RE.match(name or ""):
            raise CloudError("InvalidInput", f"bad policy name {name!r} (letters, digits and +=,.@_-, at most 64)")
        uses = self._uses(name)
        resource_based: bool | None = any(kind in ("trust", "resource") for kind, _ in uses) if uses else None
        try:
            policy = parse_policy(text, name, resource_based=resource_based)
        except PolicyError as exc:
            raise CloudError("MalformedPolicyDocument", str(exc)) from None
        existed = name in self.policies
        self.policies[name] = policy
        self._changed("CreatePolicyVersion" if existed else "CreatePolicy", f"{name}: {len(policy.statements)} statements")
        return policy, existed

    def _uses(self, name: str) -> list[tuple[str, str]]:
        out = []
        for p in self.principals.values():
            if name in p.policies:
                out.append(("identity", p.name))
            for kind in ("boundary", "session", "trust"):
                if getattr(p, kind) == name:
                    out.append((kind, p.name))
        out += [("resource", arn) for arn, pol in self.resources.items() if pol == name]
        out += [("scp", a.name) for a in self.accounts.values() if name in a.scps]
        return out

    def delete_policy(self, name: str) -> None:
        self.policy(name)
        uses = self._uses(name)
        if uses:
            shown = ", ".join(f"{k} of {w}" for k, w in uses)
            raise CloudError("DeleteConflict", f"policy {name} is in use ({shown}): detach it first")
        del self.policies[name]
        self._changed("DeletePolicy", name)

    def attach(self, policy: str, target: str, kind: str) -> str:
        """Attach a policy to a principal (identity, boundary, session, trust), a resource
        (resource) or an account (scp). Returns what it is attached to, in words."""
        self.policy(policy)
        try:
            self._policy(policy, kind)
        except PolicyError as exc:
            raise CloudError("InvalidInput", str(exc)) from None
        if kind == "resource":
            arn = self._resource(target)
            if self.resources[arn] == policy:
                raise CloudError("InvalidInput", f"{arn} already has resource policy {policy}")
            self.resources[arn] = policy
            where = arn
        elif kind == "scp":
            acct = self._account(target)
            if policy in acct.scps:
                raise CloudError("DuplicatePolicyAttachment", f"account {acct.name} already has SCP {policy}")
            acct.scps.append(policy)
            where = f"account {acct.name} ({acct.id})"
        else:
            who = self.principal(target)
            if kind in ("trust", "session") and who.kind != "role":
                raise CloudError("InvalidInput", f"{who.name} is a user: only a role has a {kind} policy")
            if kind == "identity":
                if policy in who.policies:
                    raise CloudError("DuplicatePolicyAttachment", f"{who.name} already has {policy}")
                if len(who.policies) >= 10:
                    raise CloudError("LimitExceeded", f"{who.name} already has 10 managed policies (IAM's default quota)")
                who.policies.append(policy)
            else:
                setattr(who, kind, policy)
            where = f"{who.kind} {who.name}"
        action = {"identity": "AttachRolePolicy", "boundary": "PutRolePermissionsBoundary", "session": "AssumeRole",
                  "trust": "UpdateAssumeRolePolicy", "resource": "PutResourcePolicy", "scp": "AttachPolicy"}[kind]  # fmt: skip
        self._changed(action, f"{policy} as {kind} policy of {where}")
        return where

    def detach(self, policy: str, target: str) -> str:
        self.policy(policy)
        if target in self.principals:
            who = self.principals[target]
            if policy in who.policies:
                who.policies.remove(policy)
                kind = "identity"
            else:
                kind = next((k for k in ("boundary", "session", "trust") if getattr(who, k) == policy), "")
                if not kind:
                    held = ", ".join(who.policies + [x for x in (who.boundary, who.session, who.trust) if x]) or "none"
                    raise CloudError("NoSuchEntity", f"{who.name} does not have {policy} (its policies: {held})")
                setattr(who, kind, None)
            self._changed("DetachRolePolicy", f"{policy} ({kind}) from {who.name}")
            return f"{who.kind} {who.name}"
        acct = next((a for a in self.accounts.values() if target in (a.name, a.id)), None)
        if acct is not None:
            if policy not in acct.scps:
                raise CloudError("PolicyNotAttached", f"account {acct.name} has no SCP {policy}")
            acct.scps.remove(policy)
            self._changed("DetachPolicy", f"SCP {policy} from account {acct.name}")
            return f"account {acct.name}"
        arn = self._resource(target)
        if self.resources[arn] != policy:
            raise CloudError("NoSuchEntity", f"{arn}'s resource policy is {self.resources[arn] or 'none'}, not {policy}")
        self.resources[arn] = None
        self._changed("DeleteResourcePolicy", f"{policy} from {arn}")
        return arn

    def _resource(self, arn: str) -> str:
        if arn not in self.resources:
            shown = ", ".join(sorted(self.resources)[:6]) or "none"
            raise CloudError("NoSuchEntity", f"the world has no resource {arn} (resources: {shown})")
        return arn

    def _account(self, name: str) -> AccountSpec:
        for a in self.accounts.values():
            if name in (a.name, a.id):
                return a
        raise CloudError("NoSuchEntity", f"no account {name!r} (accounts: {', '.join(a.name for a in self.accounts.values())})")

    def statement_count(self) -> int:
        return sum(len(p.statements) for p in self.policies.values())

    # -- metrics -------------------------------------------------------------------------
    def metrics(self) -> dict[str, int]:
        out = {
            "iam_policies": len(self.policies),
            "iam_statements": self.statement_count(),
            "iam_simulations": self.simulations,
            "iam_allowed": self.allowed,
            "iam_denied": self.denied,
            "iam_last_allowed": -1 if self.last is None else int(self.last.allowed),
            "iam_changes": self.changes,
        }
        for name, (allowed, extra, missing) in self.sweeps.items():
            out[f"allowed_actions.{name}"] = allowed
            out[f"extra_actions.{name}"] = extra
            out[f"missing_actions.{name}"] = missing
        return out


def check_world(world: CoreWorld, spec: IamSpec) -> None:
    """Built already by the section's own validator; nothing in the rest of the world to check."""


def attach(cloud: "Cloud", spec: IamSpec) -> IamService:
    iam = IamService(cloud, spec)
    cloud.metric_sources.append(iam.metrics)
    return iam


METRICS = metrics(
    ("iam_policies", "IAM policy documents"),
    ("iam_statements", "statements in every policy document"),
    ("iam_simulations", "requests decided (simulations and checked calls)"),
    ("iam_allowed", "requests allowed"),
    ("iam_denied", "requests denied"),
    ("iam_last_allowed", "1 when the last request decided was allowed, 0 when denied (-1: none yet)"),
    ("iam_changes", "changes made to policies and attachments"),
    ("allowed_actions.{principal}", "action-resource pairs the last sweep found allowed to a principal", "no sweep of {} yet (iam sweep)"),
    ("extra_actions.{principal}", "allowed pairs beyond what the principal's job needs (least privilege: 0)", "no sweep of {} yet (iam sweep)"),
    ("missing_actions.{principal}", "pairs the principal's job needs that are denied", "no sweep of {} yet (iam sweep)"),
)
EVENTS = events(
    ("iam.decided", "principal action resource decision policy by statement source", "IAM decided a request"),
    ("iam.swept", "principal tried allowed extra missing", "every action and resource was simulated for a principal"),
    ("iam.changed", "action detail", "a policy or an attachment changed"),
)
