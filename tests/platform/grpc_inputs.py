"""Hypothesis strategies for any request message of our contracts, and the checks every service's RPCs must pass.

A service is reachable from inside the cluster without the gateway, so every one of its unary RPCs is sent:
- arbitrary requests (any int32/int64, NaN and infinite floats, text with control characters or past any column,
  unknown enum numbers, odd timestamps and free-form JSON), which may be refused but never be an INTERNAL or
  UNKNOWN error, nor a hang;
- a request with one control character or one non-finite number in one field, which must be INVALID_ARGUMENT naming
  that field.

Hypothesis runs in a worker thread and hands each call to the test's event loop, where the real server and channel
live. Examples are derandomized, so a failure reproduces run after run; hypothesis prints the request that failed.
"""

from __future__ import annotations

import asyncio
import json
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.struct_pb2 import Struct, Value
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.platform.grpc_client import open_channel
from services.platform.interceptors import VIOLATIONS_METADATA_KEY
from services.platform.products import PRODUCTS
from tests.timing import CALL_DEADLINE_SECONDS

# What no request may ever get back: a crash (INTERNAL, UNKNOWN, DATA_LOSS) or no answer in time.
FAILURES = (
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.DATA_LOSS,
    grpc.StatusCode.DEADLINE_EXCEEDED,
)
CONTROL_CHARACTERS = [chr(code) for code in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F)]
MAX_MESSAGE_DEPTH = 3

# Values that get past a service's first checks, so the fuzzing reaches its deeper code, beside arbitrary ones.
_PLAUSIBLE_TEXT = st.one_of(
    st.uuids().map(str),
    st.dates().map(lambda day: day.isoformat()),
    st.sampled_from([*PRODUCTS, "1000001", "A", "office_admin", "driver", "car", "cash", "ordinary", "2027-03-17"]),
)
# Mostly text a service could take, so a request often gets past its first field to the code behind it.
_TEXT = st.one_of(
    _PLAUSIBLE_TEXT,
    _PLAUSIBLE_TEXT,
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), max_size=30),
    st.text(max_size=30),
    st.text(alphabet=st.sampled_from([*CONTROL_CHARACTERS, "a", "台"]), min_size=1, max_size=5),
    st.sampled_from(["x" * 5001, "台" * 301, "😀" * 120, " ", "'; DROP TABLE x; --", "%", "_", "\\"]),
)
_INT32 = st.one_of(
    st.integers(-3, 400),
    st.sampled_from([2**31 - 1, -(2**31), 2**15, 10**9]),
    st.integers(-(2**31), 2**31 - 1),
)
_INT64 = st.one_of(_INT32, st.sampled_from([2**63 - 1, -(2**63), 2**53]), st.integers(-(2**63), 2**63 - 1))
_FLOAT = st.one_of(
    st.floats(-200, 200),
    st.floats(-200, 200),
    st.floats(),
    st.sampled_from([float("nan"), float("inf"), 1e300, 23.0, 121.1]),
)
_JSON = st.recursive(
    st.none() | st.booleans() | _FLOAT | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)


def _scalars(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    kinds = {
        FieldDescriptor.TYPE_STRING: _TEXT,
        FieldDescriptor.TYPE_BYTES: st.binary(max_size=64),
        FieldDescriptor.TYPE_BOOL: st.booleans(),
        FieldDescriptor.TYPE_INT32: _INT32,
        FieldDescriptor.TYPE_SINT32: _INT32,
        FieldDescriptor.TYPE_INT64: _INT64,
        FieldDescriptor.TYPE_SINT64: _INT64,
        FieldDescriptor.TYPE_DOUBLE: _FLOAT,
        FieldDescriptor.TYPE_FLOAT: _FLOAT.map(lambda value: value if abs(value) < 3e38 else float("inf")),
        FieldDescriptor.TYPE_UINT32: st.integers(0, 2**32 - 1),
        FieldDescriptor.TYPE_UINT64: st.integers(0, 2**64 - 1),
    }
    if field.type == FieldDescriptor.TYPE_ENUM:
        # Open enums: a number the contract does not define arrives as itself.
        return st.sampled_from([value.number for value in field.enum_type.values]) | st.integers(-2, 40)
    return kinds[field.type]


def _struct(value: dict[str, Any]) -> Struct:
    built = Struct()
    built.update(value)
    return built


def _json_value(value: Any) -> Value:
    built = Value()
    built.CopyFrom(_struct({"value": value}).fields["value"])
    return built


def messages(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Any message of this type: each field unset or holding any value its type allows."""
    if descriptor.full_name == "google.protobuf.Struct":
        return st.dictionaries(_TEXT, _JSON, max_size=4).map(_struct)
    if descriptor.full_name == "google.protobuf.Value":
        return _JSON.map(_json_value)
    message_class = message_factory.GetMessageClass(descriptor)
    if depth >= MAX_MESSAGE_DEPTH:
        return st.just(message_class())
    optional = {field.name: _values(field, depth) for field in descriptor.fields}
    return st.fixed_dictionaries({}, optional=optional).map(lambda values: _build(message_class, values))


def _values(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        key_field = field.message_type.fields_by_name["key"]
        value_field = field.message_type.fields_by_name["value"]
        return st.dictionaries(_single(key_field, depth), _single(value_field, depth + 1), max_size=3)
    if field.is_repeated:
        return st.lists(_single(field, depth + 1), max_size=3)
    return _single(field, depth + 1)


def _single(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return messages(field.message_type, depth)
    return _scalars(field)


def _build(message_class: type[Message], values: dict[str, Any]) -> Message:
    built = message_class()
    for name, value in values.items():
        _set(built, name, value)
    return built


def _set(message: Message, name: str, value: Any) -> None:
    field = message.DESCRIPTOR.fields_by_name[name]
    target = getattr(message, name)
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        for key, item in value.items():
            if isinstance(item, Message):
                target[key].CopyFrom(item)
            else:
                target[key] = item
    elif field.is_repeated:
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            for item in value:
                target.add().CopyFrom(item)
        else:
            target.extend(value)
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        target.CopyFrom(value)
    else:
        setattr(message, name, value)


@dataclass(frozen=True)
class FieldPath:
    """One text or floating-point field somewhere in a request, as the service names it (``items[0].note``)."""

    steps: tuple[tuple[FieldDescriptor, bool], ...]  # each field and whether it is a list (entry 0 is used)

    @property
    def name(self) -> str:
        return ".".join(field.name + ("[0]" if repeated else "") for field, repeated in self.steps)

    @property
    def field(self) -> FieldDescriptor:
        return self.steps[-1][0]

    def request_with(self, descriptor: Descriptor, value: Any) -> Message:
        """A request with only this field set (and the messages that hold it)."""
        request = message_factory.GetMessageClass(descriptor)()
        self.set_in(request, value)
        return request

    def set_in(self, request: Message, value: Any) -> None:
        """Put ``value`` in this field of ``request`` (the first entry of a list, added if the list is empty)."""
        holder: Message = request
        for field, repeated in self.steps[:-1]:
            if repeated:
                entries = getattr(holder, field.name)
                holder = entries[0] if len(entries) else entries.add()
            else:
                holder = getattr(holder, field.name)
        last, repeated = self.steps[-1]
        if not repeated:
            setattr(holder, last.name, value)
        elif len(entries := getattr(holder, last.name)):
            entries[0] = value
        else:
            entries.append(value)


_WELL_KNOWN = ("google.protobuf.",)


def field_paths(descriptor: Descriptor, kinds: tuple[int, ...], depth: int = 0) -> list[FieldPath]:
    """Every field of these types in a message and in the messages it holds (maps and well-known types aside)."""
    found: list[FieldPath] = []
    for field in descriptor.fields:
        if field.type in kinds:
            found.append(FieldPath(((field, field.is_repeated),)))
        elif (
            field.type == FieldDescriptor.TYPE_MESSAGE
            and depth < MAX_MESSAGE_DEPTH
            and not field.message_type.GetOptions().map_entry
            and not field.message_type.full_name.startswith(_WELL_KNOWN)
        ):
            for inner in field_paths(field.message_type, kinds, depth + 1):
                found.append(FieldPath(((field, field.is_repeated), *inner.steps)))
    return found


SCALAR_KINDS = tuple(
    kind
    for kind in range(FieldDescriptor.MAX_TYPE + 1)
    if kind not in (0, FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP)
)


def unary_methods(service: ServiceDescriptor) -> list[MethodDescriptor]:
    return [method for method in service.methods if not method.client_streaming and not method.server_streaming]


def violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    for key, value in error.trailing_metadata() or ():
        if key == VIOLATIONS_METADATA_KEY:
            return {item["field"]: item["reason"] for item in json.loads(value)}
    return {}


class Caller:
    """Sends requests to a running service from hypothesis's worker thread through the test's event loop."""

    def __init__(self, port: int, service: ServiceDescriptor) -> None:
        self.channel: grpc.aio.Channel = open_channel(
            f"127.0.0.1:{port}", service, default_deadline=CALL_DEADLINE_SECONDS
        )
        self.service = service
        self.loop = asyncio.get_running_loop()

    async def __aenter__(self) -> Caller:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.channel.close()

    def call(self, method: MethodDescriptor, request: Message) -> grpc.StatusCode | grpc.aio.AioRpcError:
        """OK, or the error the service answered."""
        response_class = message_factory.GetMessageClass(method.output_type)
        callable_ = self.channel.unary_unary(
            f"/{self.service.full_name}/{method.name}",
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=response_class.FromString,
        )

        async def send() -> grpc.StatusCode | grpc.aio.AioRpcError:
            try:
                await callable_(request, timeout=CALL_DEADLINE_SECONDS)
            except grpc.aio.AioRpcError as error:
                return error
            return grpc.StatusCode.OK

        return asyncio.run_coroutine_threadsafe(send(), self.loop).result(timeout=CALL_DEADLINE_SECONDS * 2)


def _settings(examples: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
    )


def _described(method: MethodDescriptor, request: Message, answer: object) -> str:
    return f"{method.name}({request!r}) answered {answer!r}"


async def no_request_crashes(
    port: int,
    service: ServiceDescriptor,
    examples: int = 500,
    skip: tuple[str, ...] = (),
) -> None:
    """Arbitrary requests to every unary RPC of ``service``: refused or answered, never a crash or a hang."""
    methods = [method for method in unary_methods(service) if method.name not in skip]
    requests = st.sampled_from(methods).flatmap(lambda method: st.tuples(st.just(method), messages(method.input_type)))

    @_settings(examples)
    @given(requests)
    def check(drawn: tuple[MethodDescriptor, Message]) -> None:
        method, request = drawn
        answer = caller.call(method, request)
        code = answer if isinstance(answer, grpc.StatusCode) else answer.code()
        assert code not in FAILURES, _described(method, request, answer)

    async with Caller(port, service) as caller:
        await asyncio.to_thread(check)


async def one_field_off(
    port: int, service: ServiceDescriptor, valid: dict[str, Callable[[], Message]], examples: int = 300
) -> None:
    """A request the service would take (``valid`` makes one, by method name) with one field anywhere in it holding
    any value its type allows (any integer, NaN, text with control characters, an unknown enum number): refused or
    answered, never a crash. This reaches the checks and the SQL behind a request's first field."""
    methods = {method.name: method for method in unary_methods(service)}
    cases = [
        (methods[name], path) for name in sorted(valid) for path in field_paths(methods[name].input_type, SCALAR_KINDS)
    ]

    def with_any_value(case: tuple[MethodDescriptor, FieldPath]) -> st.SearchStrategy[Any]:
        return st.tuples(st.just(case[0]), st.just(case[1]), _scalars(case[1].field))

    @_settings(examples)
    @given(st.sampled_from(cases).flatmap(with_any_value))
    def check(drawn: tuple[MethodDescriptor, FieldPath, Any]) -> None:
        method, path, value = drawn
        request = valid[method.name]()
        path.set_in(request, value)
        answer = caller.call(method, request)
        code = answer if isinstance(answer, grpc.StatusCode) else answer.code()
        assert code not in FAILURES, _described(method, request, answer)

    async with Caller(port, service) as caller:
        await asyncio.to_thread(check)


async def bad_values_are_named(
    port: int,
    service: ServiceDescriptor,
    examples: int = 200,
    skip: tuple[str, ...] = (),
) -> None:
    """One control character in one text field, or one non-finite or absurd number in one floating-point field, of
    any unary RPC: INVALID_ARGUMENT naming that very field."""
    texts = (FieldDescriptor.TYPE_STRING,)
    floats = (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT)
    cases: list[tuple[MethodDescriptor, FieldPath]] = [
        (method, path)
        for method in unary_methods(service)
        if method.name not in skip
        for path in field_paths(method.input_type, texts + floats)
    ]
    assert cases, f"{service.full_name} takes no text or number: nothing to check"
    bad_text = st.tuples(
        st.text(alphabet=string.ascii_letters + "台灣 ", max_size=8),
        st.sampled_from(CONTROL_CHARACTERS),
        st.text(alphabet=string.ascii_letters + "台灣 ", max_size=8),
    ).map("".join)
    bad_float = st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e12, -1e300])

    def with_bad_value(case: tuple[MethodDescriptor, FieldPath]) -> st.SearchStrategy[Any]:
        method, path = case
        values = bad_text if path.field.type in texts else bad_float
        return st.tuples(st.just(method), st.just(path), values)

    @_settings(examples)
    @given(st.sampled_from(cases).flatmap(with_bad_value))
    def check(drawn: tuple[MethodDescriptor, FieldPath, Any]) -> None:
        method, path, value = drawn
        request = path.request_with(method.input_type, value)
        answer = caller.call(method, request)
        described = _described(method, request, answer)
        assert isinstance(answer, grpc.aio.AioRpcError), described
        assert answer.code() == grpc.StatusCode.INVALID_ARGUMENT, described
        assert path.name in violations(answer), described

    async with Caller(port, service) as caller:
        await asyncio.to_thread(check)
