"""IAM's commands and record: policy documents, what they are attached to, and the policy
simulator (cloud/iam.py).

The verbs follow the AWS CLI (``aws iam put-role-policy``, ``attach-role-policy``,
``simulate-principal-policy``), shortened: ``iam put-policy NAME JSON`` creates a policy or
replaces its document, ``iam attach POLICY TARGET --as KIND`` attaches it, ``iam simulate``
decides one request and names the statement that decided it, ``iam sweep`` simulates
every action on every resource for one principal (the least-privilege check). A
malformed document is refused in one line, with the line and column of the JSON error,
and nothing changes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ...cloud import iam as sim
from ...cloud.errors import CloudError
from ...cloud.iam import POLICY_KINDS, IamService, PolicyError, parse_context
from ..console_text import fitted
from ..mechanism import Mechanism, keys_of
from ..parser import CommandError
from ..registry import CommandSet, Param

if TYPE_CHECKING:
    from ..session import Session

command = CommandSet()


def _iam(session: "Session") -> IamService:
    iam = session.cloud.get(IamService)
    if iam is None:
        raise CommandError("this world has no IAM (its world has no iam section)")
    return iam


def _context(text: str | None) -> dict[str, tuple[str, ...]] | None:
    if text is None:
        return None
    try:
        return parse_context(text)
    except PolicyError as exc:
        raise CommandError(str(exc)) from None


def _input(action):
    """Run an IAM call whose refusals are the player's input being wrong."""
    try:
        return action()
    except PolicyError as exc:
        raise CommandError(str(exc)) from None
    except CloudError as exc:
        raise CommandError(exc.message) from None


PRINCIPAL = Param("principal", "a user or role", complete="principal")
POLICY = Param("policy", "a policy", complete="policy")
CONTEXT = Param("context", "request context: KEY=VALUE pairs, comma-separated (aws:SourceIp=203.0.113.7,aws:SecureTransport=true)")


@command(
    "iam simulate",
    "decide one request as IAM would, and name the statement that decided it",
    args=[PRINCIPAL, Param("action", "service:Action, e.g. s3:GetObject"), Param("resource", "an ARN, e.g. arn:aws:s3:::bucket/key", complete="arn")],
    options=[CONTEXT],
    details="""The order (IAM User Guide, policy evaluation logic): an explicit Deny anywhere wins;
then the account's SCPs must allow; a resource-based policy may allow on its own in its
account; else an identity policy must allow, and the permissions boundary and session
policy too; whatever nothing allows is denied (implicit deny). Across accounts the
resource's own policy must allow as well. IAM fills in aws:CurrentTime,
aws:PrincipalAccount, aws:PrincipalArn and aws:username; --context adds the rest.""",
)
def iam_simulate(session: "Session", principal: str, action: str, resource: str, context: str | None) -> str:
    iam = _iam(session)
    ctx = _context(context)
    d = _input(lambda: iam.decide(principal, action, resource, ctx))
    lines = [d.headline()]
    who = iam.principals[principal]
    lines.append(f"  request: {who.arn} {action} {resource}" + (f" with {context}" if context else ""))
    return "\n".join(lines)


@command(
    "iam sweep",
    "simulate every action on every resource for a principal: what it may do beyond its job",
    args=[PRINCIPAL],
    options=[CONTEXT],
    details="""Like running the IAM policy simulator over the whole catalogue of actions: every action the
game knows (and the world's own) against every resource of the world. Lines marked + are
allowed beyond what the principal's job needs; ! are needed but denied.""",
)
def iam_sweep(session: "Session", principal: str, context: str | None) -> str:
    iam = _iam(session)
    ctx = _context(context)
    rows, extra, missing = _input(lambda: iam.sweep(principal, ctx))
    allowed = [(a, r, d) for a, r, d in rows if d.allowed]
    lines = [f"{principal}: {len(rows)} requests simulated, {len(allowed)} allowed, {len(extra)} beyond its job, {len(missing)} of its job denied"]
    for a, r, d in allowed:
        mark = "+" if (a, r) in extra else " "
        lines.append(f" {mark} {a:<24} {r}  ({d.kind} {d.policy} {d.statement})")
    for a, r in sorted(missing):
        lines.append(f" ! {a:<24} {r}  needed, but denied")
    if not extra and not missing:
        lines.append("least privilege: it can do its job and nothing more")
    return "\n".join(lines)


@command(
    "iam put-policy",
    "create a policy, or replace its document (a new default version)",
    args=[Param("name", "the policy's name"), Param("document", "the JSON document, in single quotes")],
    details="""iam put-policy read-reports '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
  "Action":"s3:GetObject","Resource":"arn:aws:s3:::reports/*"}]}'
A document naming a Principal is a resource-based policy (a bucket, key or trust policy).""",
)
@fitted
def iam_put_policy(session: "Session", name: str, document: str) -> str:
    iam = _iam(session)
    policy, existed = _input(lambda: iam.put_policy(name, document))
    verb = "replaced" if existed else "created"
    lines = [f"policy {name} {verb}: {len(policy.statements)} statement{'s' if len(policy.statements) != 1 else ''}"]
    lines += [f"  {s.label}: {s.text()}" for s in policy.statements]
    return "\n".join(lines)


@command("iam delete-policy", "delete a policy that nothing uses", args=[POLICY])
def iam_delete_policy(session: "Session", policy: str) -> str:
    _input(lambda: _iam(session).delete_policy(policy))
    return f"policy {policy} deleted"


@command(
    "iam attach",
    "attach a policy to a user or role, a resource or an account",
    args=[POLICY, Param("target", "a principal, a resource ARN or an account", complete="iam-target")],
    options=[Param("as", "what kind of policy it is there", choices=POLICY_KINDS, default="identity")],
    details="""identity: what the principal may do; boundary: the most it may ever do; session: a
role session's extra limit; trust: who may assume the role; resource: the resource's own
policy (a bucket or key policy); scp: a service control policy over a whole account.""",
)
def iam_attach(session: "Session", policy: str, target: str, **kw: str) -> str:
    kind = kw["as"]
    where = _input(lambda: _iam(session).attach(policy, target, kind))
    return f"{policy} attached to {where} as its {kind} policy"


@command("iam detach", "detach a policy from a principal, a resource or an account", args=[POLICY, Param("target", "where it is attached", complete="iam-target")])
def iam_detach(session: "Session", policy: str, target: str) -> str:
    where = _input(lambda: _iam(session).detach(policy, target))
    return f"{policy} detached from {where}"


def principal_text(iam: IamService, name: str) -> str:
    p = iam.principals[name]
    acct = iam.accounts[p.account]
    lines = [f"{p.kind} {p.name} ({p.arn}), account {acct.name}"]
    for n in p.policies:
        lines.append(f"  identity  {n}")
    for kind in ("boundary", "session", "trust"):
        if getattr(p, kind):
            lines.append(f"  {kind:<9} {getattr(p, kind)}")
    if acct.scps:
        lines.append(f"  scp       {', '.join(acct.scps)} (on its account)")
    needs = sorted(iam.needs.get(name, ()))
    if needs:
        lines.append("  its job needs: " + "; ".join(f"{a} {r}" for a, r in needs))
    return "\n".join(lines)


def policy_text(iam: IamService, name: str) -> str:
    p = iam.policies[name]
    uses = iam._uses(name)
    used = ", ".join(f"{k} of {w}" for k, w in uses) or "attached to nothing"
    lines = [f"policy {name} (Version {p.version}): {used}"]
    lines += [f"  {s.label}: {s.text()}" for s in p.statements]
    try:
        compact = json.dumps(json.loads(p.source), separators=(", ", ": "))
    except ValueError:  # pragma: no cover - a stored document always parsed once
        compact = p.source
    lines.append(f"  document: {compact}")
    return "\n".join(lines)


def iam_text(session: "Session") -> str:
    iam = _iam(session)
    lines = []
    for a in iam.accounts.values():
        lines.append(f"account {a.name} {a.id}" + (f"  SCPs: {', '.join(a.scps)}" if a.scps else ""))
        for p in iam.principals.values():
            if p.account == a.id:
                held = ", ".join(p.policies) or "no policies"
                extra = "".join(f"; {k} {getattr(p, k)}" for k in ("boundary", "session", "trust") if getattr(p, k))
                lines.append(f"  {p.kind:<4} {p.name:<14} {held}{extra}")
    res = [f"  {arn}  {pol or '(no resource policy)'}" for arn, pol in iam.resources.items()]
    if res:
        lines.append("resources:")
        lines += res
    if iam.last is not None and iam.last_request is not None:
        who, action, resource = iam.last_request
        lines.append(f"last decision: {who} {action} {resource}")
        lines.append(f"  {iam.last.headline()}")
    return "\n".join(lines)


@command("iam show", "show accounts, users, roles and resources; or one principal or policy", args=[Param("name", "a principal or policy", required=False, complete="iam-name")])
def iam_show(session: "Session", name: str | None) -> str:
    iam = _iam(session)
    if name is None:
        return iam_text(session)
    if name in iam.principals:
        return principal_text(iam, name)
    if name in iam.policies:
        return policy_text(iam, name)
    known = ", ".join(sorted(iam.principals) + sorted(iam.policies))
    raise CommandError(f"no principal or policy named {name!r} (try: {known})")


def _status(session: "Session", thing: str | None) -> str | None:
    iam = session.cloud.get(IamService)
    if iam is None:
        return None
    if thing is None:
        return (
            f"iam: {len(iam.accounts)} accounts, {len(iam.principals)} users and roles, {len(iam.policies)} policies "
            f"({iam.statement_count()} statements), {iam.simulations} requests decided (iam show)"
        )
    if thing in iam.principals:
        return principal_text(iam, thing)
    if thing in iam.policies:
        return policy_text(iam, thing)
    return None


def _targets(session: "Session") -> list[str]:
    iam = session.cloud.get(IamService)
    if iam is None:
        return []
    return sorted([*iam.principals, *iam.resources, *(a.name for a in iam.accounts.values())])


def _iam_names(session: "Session") -> list[str]:
    iam = session.cloud.get(IamService)
    return sorted([*iam.principals, *iam.policies]) if iam is not None else []


MECHANISM = Mechanism(
    name="iam",
    summary="IAM: accounts, JSON policy documents, users and roles, the policy simulator (chapters 10, 11)",
    section=sim.IamSpec,
    attach=sim.attach,
    check=sim.check_world,
    commands=command,
    ids={"principal": keys_of(IamService, "principals"), "policy": keys_of(IamService, "policies"), "arn": keys_of(IamService, "resources"), "iam-target": _targets, "iam-name": _iam_names},
    status=_status,
    metrics=sim.METRICS,
    events=sim.EVENTS,
)
