"""HTTP to the platform's endpoints that no receiver can turn against the service.

- Only http and https, no credentials in the URL, and only public addresses:
  loopback, private, link-local, shared (CGNAT), unspecified, multicast and
  reserved ranges are refused unless EVENTS_ALLOWED_NETWORKS names them. A
  name is resolved once per connection, every address is checked, and the
  connection goes to the address that was checked, so a second lookup
  (DNS rebinding) cannot point it elsewhere.
- Every attempt has a wall-clock deadline (EVENTS_DELIVERY_TIMEOUT): each
  socket wait is bounded by what is left of it, so a receiver that trickles
  one byte at a time still ends at the deadline.
- At most MAX_ANSWER_BYTES of an answer are read.
- Connections are kept alive between attempts to the same endpoint.

Written on the standard library's http.client rather than requests: neither
requests nor urllib3 can pin a connection to a checked address together with
an overall deadline.
"""

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

# Enough for any receiver's "ok"; more is read no further (the answer is not used).
MAX_ANSWER_BYTES = 64 * 1024
SCHEMES = {"http": 80, "https": 443}

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedDestination(Exception):
    """The URL may not be delivered to; the message says why, for staff and the platform's developers."""


def refused_reason(address: Address) -> str | None:
    """Why ``address`` is no place to deliver to ("loopback", "private", ...), or None when it is public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allowed_networks()):
        return None
    if address.is_loopback:
        return "loopback"
    if address.is_unspecified:
        return "unspecified"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "shared (carrier-grade NAT)"
    if address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "reserved"
    return None


_SHARED = ipaddress.ip_network("100.64.0.0/10")


def allowed_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return _parse_networks(tuple(settings.EVENTS_ALLOWED_NETWORKS))


@lru_cache(maxsize=8)
def _parse_networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs if cidr.strip())


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str  # as written in the URL, for the Host header and TLS
    port: int
    target: str  # path and query

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == SCHEMES[self.scheme] else f"{host}:{self.port}"


def parse(url: str) -> Destination:
    """The URL's parts, or RefusedDestination for anything but a plain http(s) URL with a host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise RefusedDestination("The URL is not valid.") from error
    if parts.scheme not in SCHEMES:
        raise RefusedDestination("Use an http:// or https:// URL.")
    if parts.username is not None or parts.password is not None:
        raise RefusedDestination("Put no user name or password in the URL; the events are signed instead.")
    if not parts.hostname:
        raise RefusedDestination("The URL names no host.")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Destination(parts.scheme, parts.hostname, port or SCHEMES[parts.scheme], target)


def resolve(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to (tests replace this to play DNS); OSError when it cannot."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as error:
        # The IDNA codec refuses the name (a label over 63 characters): no DNS could resolve it.
        raise OSError("not a host name") from error
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def checked_addresses(destination: Destination) -> list[Address]:
    """The addresses to connect to, all of them public (or allowed); RefusedDestination otherwise."""
    literal = _literal(destination.host)
    if literal is not None:
        return _checked(destination, [literal])
    try:
        addresses = resolve(destination.host, destination.port)
    except OSError as error:
        raise RefusedDestination(f"{destination.host} does not resolve.") from error
    if not addresses:
        raise RefusedDestination(f"{destination.host} does not resolve.")
    return _checked(destination, addresses)


def _checked(destination: Destination, addresses: list[Address]) -> list[Address]:
    for address in addresses:
        reason = refused_reason(address)
        if reason is not None:
            literal = _literal(destination.host) is not None
            where = "is" if literal else f"resolves to {address}, which is"
            raise RefusedDestination(
                f"{destination.host} {where} a {reason} address; events go only to public addresses "
                "(EVENTS_ALLOWED_NETWORKS can allow a network of your own)."
            )
    return addresses


def check_destination(url: str) -> None:
    """ValidationError when an endpoint URL cannot be delivered to, as it is saved.

    A name that does not resolve now is accepted (it may later); the check is
    made again before every connection.
    """
    try:
        destination = parse(url)
        literal = _literal(destination.host)
        if literal is not None:
            _checked(destination, [literal])
            return
        try:
            addresses = resolve(destination.host, destination.port)
        except OSError:
            return
        _checked(destination, addresses)
    except RefusedDestination as error:
        raise ValidationError(str(error), code="refused_destination") from error


# Sockets that stop at a deadline: every wait is bounded by what is left of
# the attempt, so the attempt as a whole ends on time whatever the peer does.


class _Deadline:
    deadline: float = float("inf")

    def _arm(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline reached")
        self.settimeout(left)

    def recv_into(self, *args, **kwargs):
        self._arm()
        return super().recv_into(*args, **kwargs)

    def recv(self, *args, **kwargs):
        self._arm()
        return super().recv(*args, **kwargs)

    def sendall(self, *args, **kwargs):
        self._arm()
        return super().sendall(*args, **kwargs)

    def send(self, *args, **kwargs):
        self._arm()
        return super().send(*args, **kwargs)


class _DeadlineSocket(_Deadline, socket.socket):
    pass


class _DeadlineSSLSocket(_Deadline, ssl.SSLSocket):
    pass


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.sslsocket_class = _DeadlineSSLSocket
    return context


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP/1.1 connection to one checked address, with the URL's host in the Host header and for TLS."""

    def __init__(self, destination: Destination, address: Address) -> None:
        super().__init__(destination.host, destination.port)
        self.destination = destination
        self.address = address

    def connect(self) -> None:
        family = socket.AF_INET6 if address_is_v6(self.address) else socket.AF_INET
        sock = _DeadlineSocket(family, socket.SOCK_STREAM)
        try:
            sock.deadline = self.deadline
            sock._arm()
            sock.connect((str(self.address), self.destination.port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.destination.scheme == "https":
                plain, sock = sock, None
                plain.settimeout(max(0.001, self.deadline - time.monotonic()))
                sock = _tls_context().wrap_socket(plain, server_hostname=self.destination.host)
                sock.deadline = self.deadline
        except BaseException:
            if sock is not None:
                sock.close()
            raise
        self.sock = sock

    deadline: float = float("inf")

    def arm(self, deadline: float) -> None:
        """Bound everything the next request does by ``deadline`` (time.monotonic())."""
        self.deadline = deadline
        if self.sock is not None:
            self.sock.deadline = deadline


def address_is_v6(address: Address) -> bool:
    return isinstance(address, ipaddress.IPv6Address)


@dataclass(frozen=True)
class Answer:
    """What one attempt got: a status, or an error; Retry-After in seconds when the receiver gave one."""

    status: int | None
    error: str = ""
    retry_after: float | None = None
    latency_ms: int | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


# What a kept-alive connection the receiver has since closed raises on its next request.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


class Sender:
    """Posts to one endpoint URL over one kept-alive connection; never raises for the receiver's faults."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._connection: _PinnedConnection | None = None
        self._reused = False
        self.used_at = time.monotonic()

    def post(self, body: bytes, headers: dict[str, str], *, timeout: float) -> Answer:
        started = time.monotonic()
        deadline = started + timeout
        try:
            try:
                answer = self._post(body, headers, deadline, started)
            except _STALE:
                if not self._reused:
                    raise
                # A kept-alive connection the receiver closed while idle: once more on a new one.
                self.close()
                answer = self._post(body, headers, deadline, started)
        except RefusedDestination as error:
            self.close()
            return Answer(None, f"refused: {error}"[:200])
        except TimeoutError:
            self.close()
            return Answer(None, "timed out", latency_ms=_ms_since(started))
        except (OSError, http.client.HTTPException, ValueError) as error:
            self.close()
            # The type only: a message could quote what the receiver sent.
            return Answer(None, f"could not connect ({type(error).__name__})", latency_ms=_ms_since(started))
        self.used_at = time.monotonic()
        return answer

    def _post(self, body: bytes, headers: dict[str, str], deadline: float, started: float) -> Answer:
        self._reused = self._connection is not None
        if self._connection is None:
            destination = parse(self.url)
            self._connection = _PinnedConnection(destination, checked_addresses(destination)[0])
        connection = self._connection
        connection.arm(deadline)
        destination = connection.destination
        connection.request("POST", destination.target, body, {"Host": destination.host_header, **headers})
        response = connection.getresponse()
        reusable = _read_answer(response)
        answer = Answer(response.status, "", _retry_after(response), _ms_since(started))
        if not reusable:
            self.close()
        return answer

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _read_answer(response: http.client.HTTPResponse) -> bool:
    """Read the answer's body up to MAX_ANSWER_BYTES; True when all of it was read (the connection can be reused)."""
    read = response.read(MAX_ANSWER_BYTES + 1)
    return len(read) <= MAX_ANSWER_BYTES and response.isclosed() and not response.will_close


def _retry_after(response: http.client.HTTPResponse) -> float | None:
    value = (response.getheader("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - timezone.now()).total_seconds())


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
