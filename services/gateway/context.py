"""What the gateway's routes need, created in the lifespan and closed after it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import grpc
import redis.asyncio as aioredis
from fastapi import Depends, Request
from grpc_health.v1 import health_pb2_grpc
from luckygas.customer.v1 import customer_pb2, customer_pb2_grpc
from luckygas.flags.v1 import flags_pb2, flags_pb2_grpc
from luckygas.migration.v1 import migration_pb2, migration_pb2_grpc
from luckygas.order.v1 import order_pb2, order_pb2_grpc
from luckygas.routing.v1 import routing_pb2, routing_pb2_grpc
from luckygas.tracking.v1 import tracking_pb2, tracking_pb2_grpc

from services.gateway.auth import AuthService
from services.gateway.ratelimit import RateLimiter
from services.gateway.revocations import Revocations
from services.gateway.settings import GatewaySettings
from services.gateway.tokens import TokenSigner
from services.platform.database import Database, create_engine
from services.platform.flags.faults import FaultPolicy
from services.platform.flags.local import FlagStore
from services.platform.grpc_client import open_channel

CUSTOMER_SERVICE = customer_pb2.DESCRIPTOR.services_by_name["CustomerService"]
ORDER_SERVICE = order_pb2.DESCRIPTOR.services_by_name["OrderService"]
FLAG_SERVICE = flags_pb2.DESCRIPTOR.services_by_name["FlagService"]
ROUTING_SERVICE = routing_pb2.DESCRIPTOR.services_by_name["RoutingService"]
TRACKING_SERVICE = tracking_pb2.DESCRIPTOR.services_by_name["TrackingService"]
MIGRATION_SERVICE = migration_pb2.DESCRIPTOR.services_by_name["MigrationService"]


@dataclass
class GatewayContext:
    settings: GatewaySettings
    database: Database
    redis: aioredis.Redis
    signer: TokenSigner
    login_limiter: RateLimiter
    revocations: Revocations
    customer_channel: grpc.aio.Channel
    customers: customer_pb2_grpc.CustomerServiceStub
    customer_health: health_pb2_grpc.HealthStub
    order_channel: grpc.aio.Channel
    orders: order_pb2_grpc.OrderServiceStub
    order_health: health_pb2_grpc.HealthStub
    flag_channel: grpc.aio.Channel
    flags: flags_pb2_grpc.FlagServiceStub
    flag_health: health_pb2_grpc.HealthStub
    routing_channel: grpc.aio.Channel
    routing: routing_pb2_grpc.RoutingServiceStub
    routing_health: health_pb2_grpc.HealthStub
    tracking_channel: grpc.aio.Channel
    tracking: tracking_pb2_grpc.TrackingServiceStub
    tracking_health: health_pb2_grpc.HealthStub
    migration_channel: grpc.aio.Channel
    migration: migration_pb2_grpc.MigrationServiceStub
    # The gateway's in-process flags (kept current by a watcher started in the lifespan) and its fault policy.
    flag_store: FlagStore
    faults: FaultPolicy

    @classmethod
    def open(cls, settings: GatewaySettings) -> GatewayContext:
        redis = aioredis.from_url(settings.redis_url, socket_timeout=1, socket_connect_timeout=1)
        channel = open_channel(
            settings.customer_address, CUSTOMER_SERVICE, default_deadline=settings.call_deadline_seconds
        )
        order_channel = open_channel(
            settings.order_address, ORDER_SERVICE, default_deadline=settings.call_deadline_seconds
        )
        flag_channel = open_channel(
            settings.flags_address, FLAG_SERVICE, default_deadline=settings.call_deadline_seconds
        )
        routing_channel = open_channel(
            settings.routing_address, ROUTING_SERVICE, default_deadline=settings.call_deadline_seconds
        )
        tracking_channel = open_channel(
            settings.tracking_address, TRACKING_SERVICE, default_deadline=settings.call_deadline_seconds
        )
        migration_channel = open_channel(
            settings.migration_address, MIGRATION_SERVICE, default_deadline=settings.call_deadline_seconds
        )
        flag_store = FlagStore()
        return cls(
            settings=settings,
            database=Database(
                create_engine(settings.database_url, pool_size=settings.database_pool_size, application_name="gateway")
            ),
            redis=redis,
            signer=TokenSigner(settings.jwt_secret, settings.access_token_seconds, settings.refresh_token_seconds),
            login_limiter=RateLimiter(
                redis, "luckygas:gateway:login", settings.login_attempts_per_window, settings.login_window_seconds
            ),
            revocations=Revocations(redis, settings.access_token_seconds),
            customer_channel=channel,
            customers=customer_pb2_grpc.CustomerServiceStub(channel),
            customer_health=health_pb2_grpc.HealthStub(channel),
            order_channel=order_channel,
            orders=order_pb2_grpc.OrderServiceStub(order_channel),
            order_health=health_pb2_grpc.HealthStub(order_channel),
            flag_channel=flag_channel,
            flags=flags_pb2_grpc.FlagServiceStub(flag_channel),
            flag_health=health_pb2_grpc.HealthStub(flag_channel),
            routing_channel=routing_channel,
            routing=routing_pb2_grpc.RoutingServiceStub(routing_channel),
            routing_health=health_pb2_grpc.HealthStub(routing_channel),
            tracking_channel=tracking_channel,
            tracking=tracking_pb2_grpc.TrackingServiceStub(tracking_channel),
            tracking_health=health_pb2_grpc.HealthStub(tracking_channel),
            migration_channel=migration_channel,
            migration=migration_pb2_grpc.MigrationServiceStub(migration_channel),
            flag_store=flag_store,
            faults=FaultPolicy(flag_store, "gateway"),
        )

    async def close(self) -> None:
        await self.customer_channel.close()
        await self.order_channel.close()
        await self.flag_channel.close()
        await self.routing_channel.close()
        await self.tracking_channel.close()
        await self.migration_channel.close()
        await self.redis.aclose()
        await self.database.dispose()


async def get_context(request: Request) -> GatewayContext:
    # async: FastAPI runs plain-def dependencies in a worker thread, a thread hop on every request.
    context: GatewayContext = request.app.state.gateway
    return context


async def get_auth(context: Annotated[GatewayContext, Depends(get_context)]) -> AuthService:
    """The account use cases over the gateway's database and deny-list (a few references: built per request)."""
    return AuthService(
        context.database,
        context.signer,
        context.revocations,
        max_failed_logins=context.settings.max_failed_logins,
        lockout_seconds=context.settings.lockout_seconds,
    )


# A route's account use cases (login, logout, password, disabling users): ``auth: Auth``.
Auth = Annotated[AuthService, Depends(get_auth)]
