"""Identity retention rules, as data. Every table holding personal data gets a rule here.

``legal_acceptances``, ``refresh_tokens`` (live ones), ``recovery_codes`` (unused ones) and a
user's sessions go with their user (foreign keys ``ON DELETE CASCADE``), and users with their
account; the rules below end users and accounts on time. ``legal_notice_sends`` (who was sent
a notice of a legal change) goes with its notice and with its user.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from missiva_identity import mail
from missiva_identity.config import IdentitySettings
from missiva_identity.legal_notices import NOTICE_RETENTION
from missiva_platform.retention import Action, RetentionRule

INACTIVITY_NOTICE_AFTER = timedelta(days=365)
INACTIVITY_GRACE = timedelta(days=30)


async def erase_account(conn: Any, account_id: str) -> int:
    """Delete an account and everything of it; announce ``AccountErased`` (same transaction)."""
    cur = await conn.execute(
        "SELECT id::text, person_key FROM users WHERE account_id = %s", (account_id,)
    )
    users = await cur.fetchall()
    await mail.publish(
        conn,
        mail.account_erased(
            account_id=account_id,
            user_ids=[u[0] for u in users],
            person_keys=[u[1] for u in users],
        ),
    )
    await conn.execute("DELETE FROM invitations WHERE account_id = %s", (account_id,))
    deleted = await conn.execute("DELETE FROM accounts WHERE id = %s", (account_id,))
    return int(deleted.rowcount)


async def _purge_deleted_accounts(conn: Any, cutoff: datetime) -> int:
    cur = await conn.execute(
        "SELECT id::text FROM accounts WHERE status = 'deletion_requested'"
        " AND purge_after < %s FOR UPDATE SKIP LOCKED",
        (cutoff,),
    )
    total = 0
    for (account_id,) in await cur.fetchall():
        total += await erase_account(conn, account_id)
    return total


async def _purge_removed_members(conn: Any, cutoff: datetime) -> int:
    cur = await conn.execute(
        "DELETE FROM users WHERE status = 'removed' AND restorable_until < %s", (cutoff,)
    )
    return int(cur.rowcount)


async def _expire_api_keys(conn: Any, cutoff: datetime) -> int:
    # least() ignores NULLs: a key ends at its revocation or its expiry, whichever came first.
    cur = await conn.execute(
        "DELETE FROM api_keys WHERE least(revoked_at, expires_at) < %s", (cutoff,)
    )
    return int(cur.rowcount)


def _inactivity(base_url: str) -> Any:
    async def inactive_accounts(conn: Any, cutoff: datetime) -> int:
        """Notice after 12 months without a sign-in; deletion 30 days after the notice."""
        now = cutoff + INACTIVITY_NOTICE_AFTER
        cur = await conn.execute(
            """
            UPDATE accounts a SET inactivity_notice_at = %(now)s
            WHERE a.status IN ('active', 'pending_verification')
              AND a.inactivity_notice_at IS NULL
              AND (SELECT max(coalesce(u.last_login_at, u.created_at)) FROM users u
                   WHERE u.account_id = a.id) < %(cutoff)s
            RETURNING a.id::text
            """,
            {"now": now, "cutoff": cutoff},
        )
        noticed = [r[0] for r in await cur.fetchall()]
        for account_id in noticed:
            admin = await conn.execute(
                "SELECT email, display_name, locale, person_key FROM users"
                " WHERE account_id = %s AND role = 'primary_admin'",
                (account_id,),
            )
            for email, name, locale, person_key in await admin.fetchall():
                await mail.send_email(
                    conn,
                    template="inactivity_notice",
                    to=email,
                    name=name,
                    locale=locale,
                    person_key=person_key,
                    tenant_id=account_id,
                    variables={
                        "display_name": name,
                        "login_url": f"{base_url.rstrip('/')}/login",
                        "deletion_in_days": str(INACTIVITY_GRACE.days),
                    },
                )
        # Still no sign-in 30 days after the notice (a sign-in clears it): erased.
        cur = await conn.execute(
            "SELECT id::text FROM accounts WHERE inactivity_notice_at < %s FOR UPDATE SKIP LOCKED",
            (now - INACTIVITY_GRACE,),
        )
        deleted = [r[0] for r in await cur.fetchall()]
        for account_id in deleted:
            await erase_account(conn, account_id)
        return len(noticed) + len(deleted)

    return inactive_accounts


def rules(settings: IdentitySettings) -> tuple[RetentionRule, ...]:
    """Identity's rules; the audit log's period and the session lifetime come from settings."""
    longest_session = timedelta(
        seconds=max(settings.remember_me_ttl_seconds, settings.refresh_token_ttl_seconds)
    )
    return (
        RetentionRule(
            table="login_attempts",
            time_column="occurred_at",
            max_age=timedelta(days=1),
            why="throttling looks back one hour; a day covers any investigation of a burst",
        ),
        RetentionRule(
            table="email_tokens",
            time_column="expires_at",
            max_age=timedelta(days=7),
            why="a spent or expired link is only worth recognising for a few days",
        ),
        RetentionRule(
            table="login_challenges",
            time_column="expires_at",
            max_age=timedelta(days=1),
            why="half-finished sign-ins expire in minutes",
        ),
        RetentionRule(
            table="oidc_logins",
            time_column="expires_at",
            max_age=timedelta(days=1),
            why="OpenID sign-ins in progress expire in minutes",
        ),
        RetentionRule(
            table="sessions",
            time_column="expires_at",
            max_age=timedelta(days=30),
            why="users see their recent sessions for a month after they end",
        ),
        RetentionRule(
            table="refresh_tokens",
            time_column="rotated_at",
            max_age=longest_session,
            why="a rotated token matters for reuse detection only while its session may live",
        ),
        RetentionRule(
            table="recovery_codes",
            time_column="used_at",
            max_age=timedelta(days=1),
            why="a used recovery code never works again",
        ),
        RetentionRule(
            table="audit_events",
            time_column="occurred_at",
            max_age=timedelta(days=settings.audit_retention_days),
            why="security audit log: 365 days by default (AUDIT_RETENTION_DAYS)",
        ),
        RetentionRule(
            table="api_keys",
            time_column="created_at",
            max_age=timedelta(hours=24),
            action=Action.ANONYMISE,
            anonymise={"replay_secret": None},
            why="a create call is retried within the idempotency window (24 h) or never",
        ),
        RetentionRule(
            table="api_keys",
            time_column="revoked_at",
            max_age=timedelta(days=90),
            action=Action.CUSTOM,
            custom=_expire_api_keys,
            why="revoked or expired keys stay listed for 90 days, then go",
        ),
        RetentionRule(
            table="invitations",
            time_column="expires_at",
            max_age=timedelta(days=30),
            why="an unanswered invitation is kept a month after it lapsed",
        ),
        RetentionRule(
            table="signing_keys",
            time_column="drop_after",
            max_age=timedelta(0),
            why="a retired key is dropped once every token it signed has expired",
        ),
        RetentionRule(
            table="legal_notices",
            time_column="effective_at",
            max_age=NOTICE_RETENTION,
            why="who was told of a legal change matters for a year after it took effect"
            " (its per-user rows go with it); consent keeps the document versions",
        ),
        RetentionRule(
            table="users",
            time_column="restorable_until",
            max_age=timedelta(0),
            action=Action.CUSTOM,
            custom=_purge_removed_members,
            why="a removed member is restorable for 30 days, then purged",
        ),
        RetentionRule(
            table="accounts",
            time_column="last_login_at",
            max_age=INACTIVITY_NOTICE_AFTER,
            action=Action.CUSTOM,
            custom=_inactivity(settings.public_base_url),
            why="inactive accounts: a notice after 12 months, deletion 30 days later",
        ),
        RetentionRule(
            table="accounts",
            time_column="purge_after",
            max_age=timedelta(0),
            action=Action.CUSTOM,
            custom=_purge_deleted_accounts,
            why="a deleted account is restorable for 30 days, then erased (AccountErased)",
        ),
    )


RULES: tuple[RetentionRule, ...] = rules(IdentitySettings(database_url="postgresql://x@h/x"))
