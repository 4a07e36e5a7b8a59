"""``create_app``: the Litestar application of the Missiva gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.plugins import InitPluginProtocol

from missiva_gateway.api import RestApi, add_request_id
from missiva_gateway.api.problems import for_api_paths
from missiva_gateway.backends import Backends
from missiva_gateway.config import GatewaySettings, load
from missiva_gateway.controllers import JwksController, ProbeController
from missiva_gateway.errors import EXCEPTION_HANDLERS
from missiva_gateway.forms_pages import FormPagesController
from missiva_gateway.my_data_pages import MyDataPagesController
from missiva_gateway.observability import RequestMetrics
from missiva_gateway.online import OnlineController
from missiva_gateway.pages import PublicPagesController
from missiva_gateway.referrals import ReferralController
from missiva_gateway.tracking import TrackingController
from missiva_gateway.web import WebPlugin
from missiva_gateway.webhooks import ProviderWebhookController


class GatewayPlugin(InitPluginProtocol):
    """Wires everything: controllers, dependencies, error mapping, metrics, backend channels."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.backends = Backends(
            settings.targets,
            call_timeout=settings.backend_timeout_seconds,
            readiness_timeout=settings.readiness_timeout_seconds,
            close_grace=settings.shutdown_grace_seconds,
        )
        self.api = RestApi(settings, self.backends)  # the web session hooks in: api.authenticators

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Register the gateway's parts on the app being built."""
        app_config.route_handlers.extend([ProbeController, JwksController, PublicPagesController])
        app_config.route_handlers.append(MyDataPagesController)  # /my-data/<token>
        app_config.route_handlers.append(ReferralController)  # /r/<code>
        app_config.route_handlers.append(TrackingController)  # /t/c/<token>, /t/o/<token>
        app_config.route_handlers.append(OnlineController)  # /v/<token>
        app_config.route_handlers.append(self.api.router())
        app_config.route_handlers.append(FormPagesController)
        app_config.route_handlers.append(ProviderWebhookController)
        app_config.dependencies.update(
            {
                "backends": Provide(self._provide_backends, sync_to_thread=False),
                "settings": Provide(self._provide_settings, sync_to_thread=False),
            }
        )
        app_config.exception_handlers.update(for_api_paths(EXCEPTION_HANDLERS))
        app_config.middleware.append(RequestMetrics())
        app_config.before_send.append(add_request_id)
        app_config.lifespan.append(self._channels)
        return app_config

    def _provide_backends(self) -> Backends:
        return self.backends

    def _provide_settings(self) -> GatewaySettings:
        return self.settings

    @asynccontextmanager
    async def _channels(self, _: Litestar) -> AsyncIterator[None]:
        # Inside the server's event loop, which grpc.aio channels are bound to.
        await self.backends.open()
        try:
            yield
        finally:
            await self.backends.close()


def create_app(settings: GatewaySettings | None = None) -> Litestar:
    """The gateway app; ``settings`` default to the environment (read once, here)."""
    settings = settings if settings is not None else load()
    gateway = GatewayPlugin(settings)
    return Litestar(
        plugins=[gateway, WebPlugin(settings, gateway.backends)],
        openapi_config=RestApi.openapi_config(),
        logging_config=None,  # the process's JSON logging (telemetry) stays in charge
    )
