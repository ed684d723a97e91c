"""python-telegram-bot's Bot API calls through aiohttp instead of httpx.

PTB lets the HTTP library be swapped (`telegram.request.BaseRequest`). Through httpx a
send cost Ci sono's python-telegram-bot driver about twice the CPU of the same call
through aiohttp, which aiogram and Twilio's client already use here; PTB still builds
every request, reads every answer and raises its own errors.
"""

from __future__ import annotations

import aiohttp

# the two private names BaseRequest's own signature is written with (HTTPXRequest uses them)
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

CONNECT_TIMEOUT = 5.0  # seconds, as PTB's own default
UPLOAD_TIMEOUT = 20.0  # seconds to write a document, as PTB's media_write_timeout


class AiohttpRequest(BaseRequest):
    """One aiohttp session with at most `connections` open to the Bot API."""

    def __init__(self, connections: int, read_timeout: float | None) -> None:
        self._connections, self._read_timeout = connections, read_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connections)
            self._session = aiohttp.ClientSession(connector=connector)

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = CONNECT_TIMEOUT if isinstance(connect_timeout, DefaultValue) else connect_timeout
        if files:
            read = (read or 0) + UPLOAD_TIMEOUT  # aiohttp has no timeout for writing alone
        body: aiohttp.FormData | dict[str, str] | None = None
        if request_data is not None:
            body = _form(request_data) if files else request_data.json_parameters
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)
        headers = {"User-Agent": self.USER_AGENT}
        try:
            async with self._session.request(
                method, url, data=body, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as error:
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error


def _form(request_data: RequestData) -> aiohttp.FormData:
    """A multipart body: the parameters, then the files (a document to send)."""
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form
