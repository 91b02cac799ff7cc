"""IAM policy evaluation (cloud/iam.py) against what the AWS IAM User Guide documents:
its worked examples, the evaluation order, wildcards, condition operators and their edge
cases; bad input refused in one line with nothing changed; and two properties of the
order (hypothesis)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudquest.cloud.iam import (
    Evaluation,
    IamService,
    IamSpec,
    PolicyError,
    Principal,
    evaluate,
    parse_arn,
    parse_context,
    parse_date,
    parse_policy,
)
from cloudquest.game.session import Session, free_play_chapter
from cloudquest.game.schema import World

ACCT = "111122223333"
OTHER = "444455556666"


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def service(policies: dict[str, str], principals: list[dict], resources: list[dict] | None = None, **kw) -> IamService:
    spec = IamSpec(
        accounts=kw.pop("accounts", [{"id": ACCT, "name": "main"}, {"id": OTHER, "name": "other"}]),
        policies=[{"name": n, "document": d} for n, d in policies.items()],
        principals=principals,
        resources=resources or [],
        **kw,
    )
    return IamService(None, spec)


# -- the User Guide's worked example ------------------------------------------------------------
CARLOS = doc(
    {"Sid": "AllowS3ListRead", "Effect": "Allow",
     "Action": ["s3:GetBucketLocation", "s3:GetAccountPublicAccessBlock", "s3:ListAccessPoints", "s3:ListAllMyBuckets"],
     "Resource": "arn:aws:s3:::*"},
    {"Sid": "AllowS3Self", "Effect": "Allow", "Action": "s3:*",
     "Resource": ["arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/*", "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar"]},
    {"Sid": "DenyS3Logs", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::*log*"},
)  # fmt: skip
CARLOS_BUCKET = doc(
    {"Sid": "AllowCarlos", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCT}:user/carlossalazar"},
     "Action": "s3:*", "Resource": "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/*"},
)  # fmt: skip


@pytest.fixture
def carlos() -> IamService:
    return service(
        {"carlos": CARLOS, "logs-bucket": CARLOS_BUCKET},
        [{"name": "carlossalazar", "account": ACCT, "policies": ["carlos"]}],
        [{"arn": "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/*", "account": ACCT, "policy": "logs-bucket"},
         {"arn": "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/*", "account": ACCT}],
    )  # fmt: skip


def test_user_guide_example_explicit_deny_in_the_user_policy_beats_the_bucket_policy_allow(carlos):
    """IAM User Guide, "Policy evaluation for requests within a single account", example
    identity-based and resource-based policy evaluation: Carlos saving a file to the -logs
    bucket is denied by DenyS3Logs although the bucket policy allows him."""
    d = carlos.decide("carlossalazar", "s3:PutObject", "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/report.txt")
    assert d.decision == "explicit-deny"
    assert (d.policy, d.kind, d.statement) == ("carlos", "identity", "DenyS3Logs")


def test_user_guide_example_his_own_bucket_is_allowed_by_the_wildcard_action(carlos):
    """Same example: AllowS3Self's s3:* covers every S3 action on his own bucket."""
    d = carlos.decide("carlossalazar", "s3:PutObject", "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/notes.txt")
    assert d.allowed and d.statement == "AllowS3Self"


def test_an_action_allowed_by_nothing_is_implicitly_denied(carlos):
    """IAM User Guide, "How AWS enforcement code logic evaluates requests": by default all
    requests are implicitly denied."""
    d = carlos.decide("carlossalazar", "ec2:RunInstances", f"arn:aws:ec2:eu-west-1:{ACCT}:instance/*")
    assert d.decision == "implicit-deny" and d.policy == "" and "denied by default" in d.reason


def test_either_identity_or_resource_policy_allows_within_one_account():
    """IAM User Guide (same page, "Important"): within one account, if either the identity
    policy or the resource-based policy allows and the other does not, it is allowed."""
    bucket = doc({"Sid": "Bob", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCT}:user/bob"}, "Action": "s3:GetObject",
                  "Resource": "arn:aws:s3:::shared/*"})  # fmt: skip
    iam = service({"bucket": bucket, "nothing": doc({"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"})},
                  [{"name": "bob", "account": ACCT, "policies": ["nothing"]}],
                  [{"arn": "arn:aws:s3:::shared/*", "account": ACCT, "policy": "bucket"}])  # fmt: skip
    d = iam.decide("bob", "s3:GetObject", "arn:aws:s3:::shared/a.txt")
    assert d.allowed and d.kind == "resource" and d.statement == "Bob"


# -- wildcards, NotAction, NotResource -----------------------------------------------------------
@pytest.mark.parametrize(
    "pattern,action,hit",
    [("s3:Get*", "s3:GetObject", True), ("s3:Get*", "s3:PutObject", False), ("s3:*Object", "s3:DeleteObject", True),
     ("S3:getobject", "s3:GetObject", True), ("s3:Get?bject", "s3:GetObject", True), ("*", "kms:Decrypt", True),
     ("s3:Get", "s3:GetObject", False)],
)  # fmt: skip
def test_action_wildcards_and_case(pattern, action, hit):
    """IAM User Guide, "IAM JSON policy elements: Action": * and ? wildcards; action names are
    not case sensitive (S3:getobject is s3:GetObject)."""
    p = parse_policy(doc({"Effect": "Allow", "Action": pattern, "Resource": "*"}))
    assert p.statements[0].matches_action(action) is hit


@pytest.mark.parametrize(
    "pattern,arn,hit",
    [("arn:aws:s3:::reports/*", "arn:aws:s3:::reports/2026/q1.csv", True),
     ("arn:aws:s3:::reports/*", "arn:aws:s3:::Reports/q1.csv", False),
     ("arn:aws:iam::111122223333:user/accounting/*", "arn:aws:iam::111122223333:user/accounting/ana", True),
     ("arn:aws:s3:::log?/x", "arn:aws:s3:::logs/x", True),
     ("arn:aws:kms:*:111122223333:key/*", "arn:aws:kms:eu-west-1:111122223333:key/k1", True),
     ("arn:aws:s3:::*log*", "arn:aws:s3:::app-logs/x", True)],
)  # fmt: skip
def test_resource_wildcards_are_case_sensitive_and_may_span_segments(pattern, arn, hit):
    """IAM User Guide, "IAM JSON policy elements: Resource": * and ? in any segment; a * at a
    segment's end may match past the colon; resource names are case sensitive."""
    p = parse_policy(doc({"Effect": "Allow", "Action": "*", "Resource": pattern}))
    assert p.statements[0].matches_resource(arn) is hit


def test_not_action_allows_everything_but_iam():
    """IAM User Guide, "IAM JSON policy elements: NotAction": Allow with NotAction iam:*
    allows every action except IAM's."""
    iam = service({"p": doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})}, [{"name": "u", "account": ACCT, "policies": ["p"]}])
    assert iam.decide("u", "s3:GetObject", "arn:aws:s3:::b/k").allowed
    assert iam.decide("u", "iam:CreateUser", f"arn:aws:iam::{ACCT}:user/x").decision == "implicit-deny"


def test_deny_with_not_resource_denies_everything_outside():
    """IAM User Guide, "IAM JSON policy elements: NotResource": Deny with NotResource denies
    every resource but the ones named, whatever else allows."""
    iam = service(
        {"p": doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                  {"Sid": "OnlyPublic", "Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::public/*"})},
        [{"name": "u", "account": ACCT, "policies": ["p"]}],
    )  # fmt: skip
    assert iam.decide("u", "s3:GetObject", "arn:aws:s3:::public/a").allowed
    d = iam.decide("u", "s3:GetObject", "arn:aws:s3:::private/a")
    assert d.decision == "explicit-deny" and d.statement == "OnlyPublic"


# -- the evaluation order ----------------------------------------------------------------------------
ALLOW_S3 = doc({"Sid": "S3", "Effect": "Allow", "Action": "s3:*", "Resource": "*"})


def test_an_scp_that_allows_nothing_denies_what_identity_allows():
    """IAM User Guide, evaluation logic: if the account is under SCPs and none allows the
    action, the request is denied, whatever the identity policies say."""
    iam = service(
        {"s3": ALLOW_S3, "scp": doc({"Effect": "Allow", "Action": "ec2:*", "Resource": "*"})},
        [{"name": "u", "account": ACCT, "policies": ["s3"]}],
        accounts=[{"id": ACCT, "name": "main", "scps": ["scp"]}],
    )
    d = iam.decide("u", "s3:GetObject", "arn:aws:s3:::b/k")
    assert d.decision == "implicit-deny" and d.kind == "scp"


def test_a_permissions_boundary_caps_identity_policies():
    """IAM User Guide, "Permissions boundaries for IAM entities": an entity may do only what
    both its identity policies and its boundary allow."""
    iam = service(
        {"s3": ALLOW_S3, "boundary": doc({"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"})},
        [{"name": "u", "account": ACCT, "policies": ["s3"], "boundary": "boundary"}],
    )
    assert iam.decide("u", "s3:GetObject", "arn:aws:s3:::b/k").allowed
    d = iam.decide("u", "s3:PutObject", "arn:aws:s3:::b/k")
    assert d.decision == "implicit-deny" and d.kind == "boundary"


def test_a_session_policy_caps_a_role_session():
    """IAM User Guide, "Session policies": the session may do only what both the role's
    policies and the session policy allow."""
    iam = service(
        {"s3": ALLOW_S3, "session": doc({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"})},
        [{"name": "r", "kind": "role", "account": ACCT, "policies": ["s3"], "session": "session"}],
    )
    assert iam.decide("r", "s3:ListBucket", "arn:aws:s3:::b").allowed
    assert iam.decide("r", "s3:GetObject", "arn:aws:s3:::b/k").kind == "session"


def test_cross_account_needs_both_sides():
    """IAM User Guide, "Cross-account policy evaluation logic": the caller's identity policy
    and the resource's policy in the other account must both allow."""
    bucket = doc({"Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": OTHER}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*"})
    iam = service(
        {"s3": ALLOW_S3, "bucket": bucket, "none": doc({"Effect": "Allow", "Action": "sqs:*", "Resource": "*"})},
        [{"name": "partner", "account": OTHER, "policies": ["s3"]}, {"name": "idle", "account": OTHER, "policies": ["none"]}],
        [{"arn": "arn:aws:s3:::data/*", "account": ACCT}],
    )
    d = iam.decide("partner", "s3:GetObject", "arn:aws:s3:::data/x")
    assert d.decision == "implicit-deny" and d.kind == "account"  # no resource policy yet: the account boundary
    iam.attach("bucket", "arn:aws:s3:::data/*", "resource")
    assert iam.decide("partner", "s3:GetObject", "arn:aws:s3:::data/x").allowed
    assert iam.decide("idle", "s3:GetObject", "arn:aws:s3:::data/x").kind == "identity"  # the resource alone is not enough


def test_assume_role_needs_the_trust_policy_to_name_the_caller():
    """IAM User Guide, "Cross account resource access": sts:AssumeRole across accounts needs the
    caller's permission and the role's trust policy naming it."""
    trust = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"}, "Action": "sts:AssumeRole", "Resource": "*"})
    iam = service(
        {"trust": trust, "assume": doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})},
        [{"name": "ops", "kind": "role", "account": ACCT, "trust": "trust"}, {"name": "dev", "account": OTHER, "policies": ["assume"]},
         {"name": "stranger", "account": "999999999999", "policies": ["assume"]}],
        accounts=[{"id": ACCT, "name": "a"}, {"id": OTHER, "name": "b"}, {"id": "999999999999", "name": "c"}],
    )  # fmt: skip
    role = f"arn:aws:iam::{ACCT}:role/ops"
    assert iam.decide("dev", "sts:AssumeRole", role).allowed
    assert iam.decide("stranger", "sts:AssumeRole", role).kind == "account"


# -- conditions -------------------------------------------------------------------------------------
def cond_service(condition: dict, effect: str = "Allow") -> IamService:
    stmts = [{"Sid": "C", "Effect": effect, "Action": "s3:GetObject", "Resource": "*", "Condition": condition}]
    if effect == "Deny":
        stmts.insert(0, {"Sid": "Base", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    return service({"p": doc(*stmts)}, [{"name": "u", "account": ACCT, "policies": ["p"]}], now="2026-03-02T09:00:00Z")


def allowed(iam: IamService, ctx: str = "") -> bool:
    return iam.decide("u", "s3:GetObject", "arn:aws:s3:::b/k", parse_context(ctx) if ctx else None, record=False).allowed


@pytest.mark.parametrize(
    "condition,ctx,want",
    [
        ({"StringEquals": {"s3:prefix": "home/"}}, "s3:prefix=home/", True),
        ({"StringEquals": {"s3:prefix": "home/"}}, "s3:prefix=Home/", False),  # case-sensitive
        ({"StringEqualsIgnoreCase": {"s3:prefix": "home/"}}, "s3:prefix=HOME/", True),
        ({"StringEquals": {"s3:prefix": ["a", "b"]}}, "s3:prefix=b", True),  # values: OR
        ({"StringNotEquals": {"s3:prefix": ["a", "b"]}}, "s3:prefix=b", False),  # negated: NOR
        ({"StringNotEquals": {"s3:prefix": ["a", "b"]}}, "s3:prefix=c", True),
        ({"StringLike": {"s3:prefix": "home/*/docs?"}}, "s3:prefix=home/ana/docs1", True),
        ({"StringLike": {"s3:prefix": "home/*/docs?"}}, "s3:prefix=home/ana/docs12", False),
        ({"StringEquals": {"s3:prefix": "x"}}, "", False),  # key absent: false
        ({"StringNotEquals": {"s3:prefix": "x"}}, "", True),  # negated, key absent: true
        ({"StringEqualsIfExists": {"s3:prefix": "x"}}, "", True),  # IfExists, key absent: true
        ({"StringEqualsIfExists": {"s3:prefix": "x"}}, "s3:prefix=y", False),
        ({"Null": {"s3:prefix": "true"}}, "", True),
        ({"Null": {"s3:prefix": "false"}}, "", False),
        ({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, "aws:SourceIp=203.0.113.77", True),
        ({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, "aws:SourceIp=203.0.114.1", False),
        ({"IpAddress": {"aws:SourceIp": "203.0.113.9"}}, "aws:SourceIp=203.0.113.9", True),  # one address is a /32
        ({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, "aws:SourceIp=2001:db8::1", False),  # IPv6 vs an IPv4 block
        ({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, "aws:SourceIp=198.51.100.1", True),
        ({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, "aws:SourceIp=not-an-ip", False),
        ({"Bool": {"aws:SecureTransport": "true"}}, "aws:SecureTransport=true", True),
        ({"Bool": {"aws:SecureTransport": "true"}}, "aws:SecureTransport=false", False),
        ({"Bool": {"aws:SecureTransport": True}}, "aws:SecureTransport=TRUE", True),
        ({"NumericLessThan": {"s3:max-keys": "10"}}, "s3:max-keys=9", True),
        ({"NumericLessThan": {"s3:max-keys": "10"}}, "s3:max-keys=10", False),  # strictly less
        ({"NumericLessThanEquals": {"s3:max-keys": "10"}}, "s3:max-keys=10", True),
        ({"NumericLessThan": {"s3:max-keys": "10"}}, "s3:max-keys=ten", False),  # not a number: no match
        ({"DateLessThan": {"aws:CurrentTime": "2026-03-02T10:00:00Z"}}, "", True),  # the world's clock: 09:00
        ({"DateLessThan": {"aws:CurrentTime": "2026-03-02T09:00:00Z"}}, "", False),  # strictly less
        ({"DateGreaterThan": {"aws:CurrentTime": "1772438400"}}, "", True),  # epoch seconds: 2026-03-02T08:00
        ({"DateLessThan": {"aws:CurrentTime": "2026-03-02T10:30:00+02:00"}}, "", False),  # 08:30 UTC
        ({"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCT}:user/*"}}, "", True),
        ({"ArnNotEquals": {"aws:PrincipalArn": f"arn:aws:iam::{ACCT}:user/u"}}, "", False),
    ],
)
def test_condition_operators_on_edge_cases(condition, ctx, want):
    """IAM User Guide, "IAM JSON policy elements: Condition operators" and "Conditions with
    multiple context keys or values": case rules, wildcards, OR of values (NOR when negated),
    an absent key (false; true for a negated operator, IfExists and Null), IP blocks, Bool,
    strict and inclusive numeric and date comparison, ISO 8601 and epoch dates."""
    assert allowed(cond_service(condition), ctx) is want


def test_deny_unless_tls_does_not_fire_when_the_key_is_absent():
    """The common bucket-policy pattern Deny when Bool aws:SecureTransport is false (AWS
    Knowledge Center, "What S3 bucket policy should I use to comply with the AWS Config rule
    s3-bucket-ssl-requests-only?"): a request that carries the key as false is denied, one that
    does not carry it at all is not matched by Bool (BoolIfExists would be)."""
    iam = cond_service({"Bool": {"aws:SecureTransport": "false"}}, effect="Deny")
    assert not allowed(iam, "aws:SecureTransport=false")
    assert allowed(iam, "aws:SecureTransport=true")
    assert allowed(iam, "")
    assert not allowed(cond_service({"BoolIfExists": {"aws:SecureTransport": "false"}}, effect="Deny"), "")


def test_the_clock_moves_aws_current_time():
    iam = cond_service({"DateLessThan": {"aws:CurrentTime": "2026-03-02T09:00:10Z"}})

    class Clocked:
        now_ms = 0

    iam.cloud = Clocked()  # only now_ms is read
    assert allowed(iam)
    Clocked.now_ms = 10_000
    assert not allowed(iam)


def test_dates_are_computed_without_a_calendar_library():
    assert parse_date("1970-01-01") == 0
    assert parse_date("2024-02-29T00:00:00Z") == 1709164800  # a leap day
    assert parse_date("2026-01-01T00:00:00Z") == 1767225600
    with pytest.raises(PolicyError):
        parse_date("2025-02-29")


# -- bad input: one line, nothing changed -------------------------------------------------------------
def test_malformed_json_names_the_position_of_the_error():
    with pytest.raises(PolicyError) as exc:
        parse_policy('{"Version": "2012-10-17",\n "Statement": [{"Effect": "Allow",, }]}', "bad")
    assert "line 2 column 35" in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize(
    "statement,message",
    [
        ({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"StringEqualz": {"k": "v"}}}, "unknown condition operator 'StringEqualz'"),
        ({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3"}, "is not an ARN"),
        ({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:eu:12:x"}, "12-digit account"),
        ({"Effect": "Permit", "Action": "s3:*", "Resource": "*"}, "Effect must be"),
        ({"Effect": "Allow", "Action": "s3:*", "NotAction": "iam:*", "Resource": "*"}, "exactly one of Action and NotAction"),
        ({"Effect": "Allow", "Action": "GetObject", "Resource": "*"}, "not service:Action"),
        ({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"NumericLessThan": {"k": "ten"}}}, "'ten' is not a number"),
        ({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.300/8"}}}, "not an IP address"),
        ({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Principal": "*"}, "identity-based policy has no Principal"),
    ],
)  # fmt: skip
def test_bad_policies_are_refused_in_one_line(statement, message):
    with pytest.raises(PolicyError) as exc:
        parse_policy(doc(statement), "p")
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_an_arn_that_does_not_parse_is_one_line():
    for bad in ("arn:aws", "aws:s3:::b", "arn:aws:S3:::b", "arn:nope:s3:::b"):
        with pytest.raises(PolicyError):
            parse_arn(bad)


WORLD = {
    "iam": {
        "accounts": [{"id": ACCT, "name": "main"}],
        "policies": [{"name": "read", "document": doc({"Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"})}],
        "principals": [{"name": "ana", "account": ACCT, "policies": ["read"]}],
        "resources": [{"arn": "arn:aws:s3:::b/*", "account": ACCT}],
    }
}


def sandbox() -> Session:
    return Session(free_play_chapter(World.model_validate(WORLD)), 0, sandbox=True)


@pytest.mark.parametrize(
    "line,message",
    [
        ("iam put-policy read '{\"Version\": \"2012-10-17\", \"Statement\": [}'", "not valid JSON at line 1 column 41"),
        ("iam put-policy read '" + doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"Foo": {"a": "b"}}}) + "'", "unknown condition operator 'Foo'"),
        ("iam simulate ana s3:GetObject not-an-arn", "'not-an-arn' is not an ARN"),
        ("iam simulate ana s3:GetObject arn:aws:s3:::b/k --context nonsense", "is not KEY=VALUE"),
        ("iam simulate nobody s3:GetObject arn:aws:s3:::b/k", "no user or role named 'nobody'"),
        ("iam attach nope ana", "no policy named 'nope'"),
    ],
)  # fmt: skip
def test_bad_console_input_is_one_line_and_changes_nothing(line, message):
    s = sandbox()
    before = (len(s.cloud.log), s.cloud.metrics(), s.cloud.log.sha256())
    out = s.execute(line)
    assert out.error_kind == "input" and message in out.output and "\n" not in out.output, out.output
    assert (len(s.cloud.log), s.cloud.metrics(), s.cloud.log.sha256()) == before


def test_simulate_prints_the_decision_and_the_deciding_statement():
    s = sandbox()
    out = s.execute("iam simulate ana s3:GetObject arn:aws:s3:::b/report.csv")
    assert out.output.startswith("✔ ALLOWED by identity policy read statement Read")
    out = s.execute("iam simulate ana s3:DeleteObject arn:aws:s3:::b/report.csv")
    assert out.output.startswith("✘ DENIED (implicit deny)")
    assert s.cloud.metrics()["iam_last_allowed"] == 0 and s.cloud.metrics()["iam_simulations"] == 2


# -- properties ------------------------------------------------------------------------------------------
ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "kms:Decrypt"]
PATTERNS = ACTIONS + ["s3:*", "s3:Get*", "*", "kms:*"]
RESOURCES = ["arn:aws:s3:::a/x", "arn:aws:s3:::a/y", "arn:aws:s3:::b/x", "arn:aws:kms:eu-west-1:111122223333:key/k"]
RES_PATTERNS = RESOURCES + ["*", "arn:aws:s3:::a/*", "arn:aws:s3:::*/x"]
CONDS = [None, {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"Bool": {"aws:SecureTransport": "true"}}, {"StringNotEquals": {"k": "v"}}]


@st.composite
def statements(draw, effect=None):
    s = {
        "Effect": effect or draw(st.sampled_from(["Allow", "Deny"])),
        "NotAction" if draw(st.booleans()) and draw(st.booleans()) else "Action": draw(st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=2)),
        "Resource": draw(st.lists(st.sampled_from(RES_PATTERNS), min_size=1, max_size=2)),
    }
    cond = draw(st.sampled_from(CONDS))
    if cond:
        s["Condition"] = cond
    return s


@st.composite
def worlds(draw):
    kinds = {
        "identity": draw(st.lists(st.lists(statements(), min_size=1, max_size=3), min_size=0, max_size=2)),
        "boundary": draw(st.one_of(st.none(), st.lists(statements(), min_size=1, max_size=2))),
        "scp": draw(st.one_of(st.none(), st.lists(statements(), min_size=1, max_size=2))),
    }
    request = (draw(st.sampled_from(ACTIONS)), draw(st.sampled_from(RESOURCES)),
               draw(st.fixed_dictionaries({"aws:SourceIp": st.sampled_from(["10.1.2.3", "203.0.113.5"]),
                                           "aws:SecureTransport": st.sampled_from(["true", "false"])})))  # fmt: skip
    return kinds, request


def decide(kinds, request) -> str:
    def pol(name, stmts):
        return parse_policy(json.dumps({"Version": "2012-10-17", "Statement": stmts}), name)

    ev = Evaluation(
        scps=[pol("scp", kinds["scp"])] if kinds["scp"] else [],
        identity=[pol(f"id{i}", s) for i, s in enumerate(kinds["identity"])],
        boundary=pol("boundary", kinds["boundary"]) if kinds["boundary"] else None,
    )
    who = Principal("u", "user", ACCT)
    action, resource, ctx = request
    return evaluate(who, action, resource, {k: (v,) for k, v in ctx.items()}, ev, ACCT).decision


def _add(kinds, where: str, stmt: dict) -> dict:
    new = {k: (list(v) if v is not None else None) for k, v in kinds.items()}
    if where == "identity":
        new["identity"] = [list(p) for p in kinds["identity"]] + [[stmt]]
    else:
        new[where] = (new[where] or []) + [stmt] if new[where] is not None else None
        if new[where] is None:
            new["identity"] = [list(p) for p in kinds["identity"]] + [[stmt]]
    return new


@settings(max_examples=300, deadline=None)
@given(worlds(), statements(effect="Deny"), st.sampled_from(["identity", "boundary", "scp"]))
def test_adding_a_deny_never_turns_a_deny_into_an_allow(world, deny, where):
    """IAM User Guide, evaluation logic: an explicit deny in any policy overrides every allow,
    so adding a Deny statement anywhere can only take permissions away."""
    kinds, request = world
    before = decide(kinds, request)
    after = decide(_add(kinds, where, deny), request)
    if before != "allow":
        assert after != "allow"


@settings(max_examples=300, deadline=None)
@given(worlds(), statements(effect="Allow"), st.sampled_from(["identity", "boundary", "scp"]))
def test_adding_an_allow_never_turns_an_explicit_deny_into_an_allow(world, allow, where):
    """IAM User Guide, evaluation logic: an explicit deny is final; no allow added anywhere
    undoes it."""
    kinds, request = world
    if decide(kinds, request) == "explicit-deny":
        assert decide(_add(kinds, where, allow), request) == "explicit-deny"
