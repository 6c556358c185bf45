"""Bearer-token users and configurable RBAC denials (everything is allowed by default)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from ktui.sim import errors

ANONYMOUS = "system:anonymous"


@dataclass(frozen=True)
class DenyRule:
    user: str
    verb: str  # "get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "*"
    # "pods", "jobs", "pods/log", "*": in any API group; "pods.metrics.k8s.io": in that group only.
    resource: str
    namespace: str | None = None  # None: every namespace and the cluster scope

    def hits(self, user: str, verb: str, resource: str, namespace: str | None, group: str = "") -> bool:
        return (
            self.user == user
            and self.verb in ("*", verb)
            and (self.resource in ("*", resource) or (bool(group) and self.resource == f"{resource}.{group}"))
            and (self.namespace is None or self.namespace == namespace)
        )


@dataclass
class Auth:
    default_user: str = "admin"
    tokens: dict[str, str] = field(default_factory=dict)
    rules: list[DenyRule] = field(default_factory=list)

    def token_for(self, user: str) -> str:
        for token, name in self.tokens.items():
            if name == user:
                return token
        token = f"sim-{secrets.token_hex(16)}"
        self.tokens[token] = user
        return token

    def user_for(self, authorization: str | None) -> str:
        if not authorization:
            return ANONYMOUS
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return ANONYMOUS
        # Unknown tokens are the default user: the simulator is permissive unless told not to be.
        return self.tokens.get(token.strip(), self.default_user)

    def deny(self, user: str, verb: str, resource: str, namespace: str | None = None) -> None:
        self.rules.append(DenyRule(user, verb, resource, namespace))

    def clear(self) -> None:
        self.rules.clear()

    def check(self, user: str, verb: str, plural: str, group: str, namespace: str | None,
              name: str | None, subresource: str | None = None) -> None:
        resource = f"{plural}/{subresource}" if subresource else plural
        for rule in self.rules:
            if rule.hits(user, verb, resource, namespace, group):
                raise errors.forbidden(user, verb, plural, group, namespace, name, subresource)
