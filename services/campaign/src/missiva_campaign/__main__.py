"""Entry point: `python -m missiva_campaign [serve|migrate|retention|start-due|
rebuild-consent-projection]`."""

from __future__ import annotations

from pathlib import Path

from missiva.campaign.v1 import campaign_service_pb2_grpc
from missiva_campaign import SERVICE_NAME, consent_rebuild
from missiva_campaign.config import CampaignSettings
from missiva_campaign.consent_client import SCOPE as CONSENT_SCOPE
from missiva_campaign.consent_client import ConsentClient
from missiva_campaign.core import CampaignCore
from missiva_campaign.credits import BillingCredits, IdentityTokens, TokenFor
from missiva_campaign.events import consumer_spec, own_handlers
from missiva_campaign.forms import RenderTokens, SiteVerify
from missiva_campaign.privacy import CampaignPrivacy
from missiva_campaign.retention import RULES
from missiva_campaign.rpc_forms import FormParts
from missiva_campaign.rpc_my_contact import MyDataLinks
from missiva_campaign.sending import SendPath
from missiva_campaign.servicer import ACCESS_RULES, CampaignServicer
from missiva_platform.auth import JwksSource
from missiva_platform.config import read_secret_file
from missiva_platform.db import make_pool
from missiva_platform.privacy import add_privacy_service
from missiva_platform.secrets import load_token_keyring
from missiva_platform.service import ServiceApp, ServiceCommand, run_cli
from missiva_platform.streams import commands_stream, events_stream

MIGRATIONS = Path(__file__).parent / "migrations"


def send_path(
    settings: CampaignSettings, pool_of: object, token_for: TokenFor | None = None
) -> SendPath:
    """The send path; credits at billing with identity's service tokens (or ``token_for``)."""
    credits = None
    if settings.billing_target:
        if token_for is None:
            assert settings.identity_target
            assert settings.service_credentials_file
            token_for = IdentityTokens(settings.identity_target, settings.service_credentials_file)
        credits = BillingCredits(settings.billing_target, token_for)
    return SendPath(
        pool_of,
        credits,
        batch_size=settings.send_batch_size,
        batches_per_run=settings.send_batches_per_run,
    )


def form_parts(settings: CampaignSettings, consent_token_for: TokenFor | None) -> FormParts:
    """Consent (with identity's service tokens, or ``consent_token_for``), the render-token
    key and the optional challenge verifier of the forms."""
    parts = FormParts()
    if settings.consent_target:
        if consent_token_for is None:
            assert settings.identity_target
            assert settings.service_credentials_file
            consent_token_for = IdentityTokens(
                settings.identity_target,
                settings.service_credentials_file,
                audience="consent",
                scopes=(CONSENT_SCOPE,),
            )
        parts.consent = ConsentClient(settings.consent_target, consent_token_for)
    if settings.token_keyring_file:
        keyring = load_token_keyring(settings.token_keyring_file)
        parts.render = RenderTokens(keyring)
        parts.links = MyDataLinks(keyring)
    if settings.form_challenge_url and settings.form_challenge_secret_file:
        secret = read_secret_file("FORM_CHALLENGE_SECRET_FILE", settings.form_challenge_secret_file)
        parts.challenge = SiteVerify(settings.form_challenge_url, secret.decode().strip())
    return parts


def build(
    settings: CampaignSettings,
    *,
    jwks: JwksSource | None = None,
    token_for: TokenFor | None = None,
    consent_token_for: TokenFor | None = None,
) -> ServiceApp:
    """Wire the kit: settings → runtime → servicers → consumers."""
    app = ServiceApp(
        SERVICE_NAME, settings, migrations_dir=MIGRATIONS, retention_rules=RULES, jwks=jwks
    )
    core = CampaignCore(settings, lambda: app.pool)
    sender = send_path(settings, lambda: app.pool, token_for)
    app.add_service(
        campaign_service_pb2_grpc.add_CampaignServiceServicer_to_server,
        CampaignServicer(core, sender, form_parts(settings, consent_token_for)),
        "missiva.campaign.v1.CampaignService",
        ACCESS_RULES,
    )
    add_privacy_service(app, CampaignPrivacy(lambda: app.pool))
    app.add_streams(
        events_stream("campaign"),
        commands_stream("campaign"),  # document notices (and their continuations)
        commands_stream("delivery"),  # the notice emails
        commands_stream("consent"),  # imported contacts' consent proofs
        events_stream("consent"),  # suppressions
        events_stream("identity"),  # account erasure
        events_stream("delivery"),  # the statistics read model
    )
    for subject, handler in own_handlers(settings).items():
        app.add_consumer(consumer_spec(subject), handler)
    return app


async def start_due(app: ServiceApp, args: list[str]) -> int:
    """``start-due`` (a CronJob each minute): start due schedules, wake idle send chains."""
    settings = app.settings
    assert isinstance(settings, CampaignSettings)
    pool = make_pool(settings.database_url, min_size=1, max_size=2)
    await pool.open(wait=True, timeout=30)
    try:
        started = await send_path(settings, lambda: pool).start_due()
    finally:
        await pool.close()
    print(f"campaign: started {started} scheduled campaign(s)")
    return 0


async def rebuild_consent_projection(app: ServiceApp, args: list[str]) -> int:
    """``rebuild-consent-projection [--account ID ...]``: the consent projection and the
    suppression copy rebuilt from consent (every account campaign knows, or those named)."""
    settings = app.settings
    assert isinstance(settings, CampaignSettings)
    if not (settings.consent_target and settings.identity_target):
        print("campaign: CONSENT_TARGET and IDENTITY_TARGET are needed to ask consent")
        return 2
    named = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--account"]
    if any(a not in ("--account", *named) for a in args):
        print("campaign: usage: rebuild-consent-projection [--account ID ...]")
        return 2
    assert settings.service_credentials_file
    tokens = IdentityTokens(
        settings.identity_target,
        settings.service_credentials_file,
        audience="consent",
        scopes=consent_rebuild.SCOPES,
    )
    pool = make_pool(settings.database_url, min_size=1, max_size=2)
    await pool.open(wait=True, timeout=30)
    try:
        if not named:
            async with pool.connection() as conn:
                named = await consent_rebuild.accounts_known(conn)
        for account in named:
            counts = await consent_rebuild.rebuild_account(
                pool, settings.consent_target, tokens, account
            )
            print(
                f"campaign: account {account}: {counts['states']} consent states,"
                f" {counts['suppressions']} suppressions from consent"
            )
    finally:
        await pool.close()
    return 0


COMMANDS: dict[str, ServiceCommand] = {
    "start-due": start_due,
    "rebuild-consent-projection": rebuild_consent_projection,
}


def main() -> None:
    run_cli(build, CampaignSettings, commands=COMMANDS)


if __name__ == "__main__":
    main()
