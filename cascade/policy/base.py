"""Check strings every rule is built from, as the real services write them.

Keystone issues tokens with implied roles (admin implies member, member
implies reader), so ``reader`` rules admit members and admins too.
"""
from __future__ import annotations

from oslo_policy import policy

__all__ = ["ADMIN", "PROJECT_MEMBER", "PROJECT_READER", "PROJECT_MEMBER_OR_ADMIN",
           "PROJECT_READER_OR_ADMIN", "USER_OR_ADMIN", "ANY", "rules"]

ADMIN = "rule:context_is_admin"
PROJECT_MEMBER = "role:member and project_id:%(project_id)s"
PROJECT_READER = "role:reader and project_id:%(project_id)s"
PROJECT_MEMBER_OR_ADMIN = "rule:admin_api or rule:project_member_api"
PROJECT_READER_OR_ADMIN = "rule:admin_api or rule:project_reader_api"
USER_OR_ADMIN = "rule:admin_api or user_id:%(user_id)s"
ANY = "@"


def rules() -> list[policy.RuleDefault]:
    return [
        policy.RuleDefault("context_is_admin", "role:admin",
                           "Who is an administrator: sees and acts on every project's "
                           "objects."),
        policy.RuleDefault("admin_api", ADMIN, "The default of admin-only operations."),
        policy.RuleDefault("project_member_api", PROJECT_MEMBER,
                           "A member of the object's project."),
        policy.RuleDefault("project_reader_api", PROJECT_READER,
                           "A reader (or member, by Keystone's role implication) of the "
                           "object's project."),
    ]
