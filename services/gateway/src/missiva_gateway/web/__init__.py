"""The web app of the gateway: server-rendered pages (Jinja2 + HTMX) for account users, and
the embedded platform's mailbox. ``WebPlugin`` adds it to the gateway's Litestar app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Router
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.plugins import InitPluginProtocol
from litestar.static_files import create_static_files_router

from missiva_gateway.web.security import WebHeaders, csrf_guard

STATIC = Path(__file__).parent / "static"


class WebPlugin(InitPluginProtocol):
    """Registers the web pages, their middleware (headers, nonce, CSRF cookie), the CSRF
    guard, the page-shaped error handlers and the static files."""

    def __init__(self, settings: Any, backends: Any) -> None:
        from missiva_gateway.web.context import Web

        self.web = Web(settings, backends)

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        from missiva_gateway.web.account import AccountPages
        from missiva_gateway.web.app_pages import AppPages
        from missiva_gateway.web.billing_pages import BillingPages
        from missiva_gateway.web.campaigns import CampaignPages
        from missiva_gateway.web.domains import DomainPages
        from missiva_gateway.web.email_preferences import EmailPreferencePages
        from missiva_gateway.web.forms_builder import FormPages
        from missiva_gateway.web.imports import ImportPages
        from missiva_gateway.web.invitations import InvitationPages
        from missiva_gateway.web.mailbox import MailboxPages
        from missiva_gateway.web.privacy_pages import PrivacyPages
        from missiva_gateway.web.problems import EXCEPTION_HANDLERS
        from missiva_gateway.web.segments import SegmentPages
        from missiva_gateway.web.settings_pages import SettingsPages
        from missiva_gateway.web.trash_pages import TrashPages

        pages = Router(
            path="/",
            route_handlers=[
                AccountPages,
                EmailPreferencePages,
                InvitationPages,
                AppPages,
                ImportPages,
                SegmentPages,
                FormPages,
                CampaignPages,
                TrashPages,
                DomainPages,
                SettingsPages,
                BillingPages,
                PrivacyPages,
                MailboxPages,
            ],
            middleware=[WebHeaders(self.web.settings.trusted_proxy_networks)],
            guards=[csrf_guard],
            exception_handlers=EXCEPTION_HANDLERS,
            include_in_schema=False,
        )
        static = create_static_files_router(
            path="/static",
            directories=[STATIC],
            include_in_schema=False,
            cache_control=None,
            middleware=[WebHeaders(self.web.settings.trusted_proxy_networks)],
        )
        app_config.route_handlers.extend([pages, static])
        web = self.web

        def provide_web() -> Any:  # a closure: Litestar deep-copies bound methods' owners
            return web

        app_config.dependencies["web"] = Provide(provide_web, sync_to_thread=False)
        return app_config
