"""An OpenFeature provider over the in-process ``FlagStore``: services call the standard OpenFeature client.

In a service's lifespan::

    store = FlagStore()
    watcher = FlagWatcher(store, settings.flag_service_address, watcher="order", redis=redis)
    watcher.start()
    openfeature.api.set_provider(InProcessFlagProvider(store))
    ...
    openfeature.api.get_client().get_boolean_value("new-order-flow", False, EvaluationContext("1000042"))

The customer code is the targeting key; other attributes (zone, segment, role) go in ``attributes``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEventDetails
from openfeature.exception import ErrorCode as OpenFeatureErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType
from openfeature.flag_evaluation import Reason as OpenFeatureReason
from openfeature.provider import AbstractProvider, Metadata

from services.platform.flags.engine import Evaluation, thaw
from services.platform.flags.local import FlagStore

PROVIDER_NAME = "luckygas-in-process"


def context_of(evaluation_context: EvaluationContext | None) -> dict[str, Any]:
    """OpenFeature's context as flagd sees it: attributes plus ``targetingKey``; datetimes as ISO 8601 text."""
    if evaluation_context is None:
        return {}
    context = {name: _json_value(value) for name, value in evaluation_context.attributes.items()}
    if evaluation_context.targeting_key:
        context["targetingKey"] = evaluation_context.targeting_key
    return context


_SCALARS = (str, bool, int, float, type(None))


def _json_value(value: Any) -> Any:
    if type(value) in _SCALARS:  # most attributes; the ABC checks below cost ~0.5 µs each
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {key: _json_value(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_json_value(item) for item in value]
    return value


def resolution(evaluation: Evaluation, value: Any) -> FlagResolutionDetails[Any]:
    """Our evaluation in OpenFeature's types (the reason and error code names are the same)."""
    metadata: dict[str, bool | int | float | str] = {"flagVersion": evaluation.flag_version}
    return FlagResolutionDetails(
        value=value,
        error_code=OpenFeatureErrorCode(evaluation.error_code.value) if evaluation.error_code else None,
        error_message=evaluation.error_message,
        reason=OpenFeatureReason(evaluation.reason.value),
        variant=evaluation.variant,
        flag_metadata=metadata,
    )


class InProcessFlagProvider(AbstractProvider):
    """Resolves flags from a ``FlagStore``; emits PROVIDER_CONFIGURATION_CHANGED when flags change."""

    def __init__(self, store: FlagStore) -> None:
        super().__init__()
        self.store = store
        store.add_listener(self._flags_changed)

    def get_metadata(self) -> Metadata:
        return Metadata(name=PROVIDER_NAME)

    def shutdown(self) -> None:
        self.store.remove_listener(self._flags_changed)

    def _flags_changed(self, keys: set[str]) -> None:
        self.emit_provider_configuration_changed(ProviderEventDetails(flags_changed=sorted(keys)))

    def _resolve(
        self, flag_key: str, default_value: Any, evaluation_context: EvaluationContext | None, expected_type: type
    ) -> FlagResolutionDetails[Any]:
        evaluation = self.store.evaluate(
            flag_key, context_of(evaluation_context), expected_type=expected_type, default=default_value
        )
        return resolution(evaluation, evaluation.value)

    def resolve_boolean_details(
        self, flag_key: str, default_value: bool, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[bool]:
        return self._resolve(flag_key, default_value, evaluation_context, bool)

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        return self._resolve(flag_key, default_value, evaluation_context, str)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        return self._resolve(flag_key, default_value, evaluation_context, int)

    def resolve_float_details(
        self, flag_key: str, default_value: float, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[float]:
        return self._resolve(flag_key, default_value, evaluation_context, float)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        evaluation = self.store.evaluate(
            flag_key, context_of(evaluation_context), expected_type=dict, default=default_value
        )
        # The store's values are shared and read-only; callers get their own plain dict (OpenFeature checks dict).
        value = thaw(evaluation.value) if evaluation.error_code is None and evaluation.variant else evaluation.value
        return resolution(evaluation, value)
