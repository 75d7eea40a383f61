"""Cases for tools/semgrep/transport.yml (`semgrep --test tools/semgrep`): `ruleid` lines must match, `ok` lines must
not."""

import ssl

import aiohttp
import grpc
import httpx
import jwt

from services.platform.grpc_client import open_channel


async def call(url: str, token: str, secret: str, descriptor: object) -> None:
    # ruleid: tls-verification-off
    async with httpx.AsyncClient(verify=False) as client:
        await client.get(url)
    # ruleid: tls-verification-off
    connector = aiohttp.TCPConnector(ssl=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        # ruleid: tls-verification-off
        await session.get(url, ssl=False)
    context = ssl.create_default_context()
    # ruleid: tls-verification-off
    context.check_hostname = False
    # ruleid: tls-verification-off
    context.verify_mode = ssl.CERT_NONE

    # ok: tls-verification-off
    async with httpx.AsyncClient(verify="/etc/luckygas/ca.pem", timeout=5.0) as client:
        await client.get(url)
    # ok: tls-verification-off
    jwt.decode(token, secret, algorithms=["HS256"], verify=False)

    # ruleid: grpc-channel-outside-platform-client
    channel = grpc.aio.insecure_channel("127.0.0.1:50051")
    await channel.close()
    # ok: grpc-channel-outside-platform-client
    channel = open_channel("127.0.0.1:50051", descriptor)
    await channel.close()
