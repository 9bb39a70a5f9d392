from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UpdateStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UPDATE_STATUS_UNSPECIFIED: _ClassVar[UpdateStatus]
    UPDATE_STATUS_QUEUED: _ClassVar[UpdateStatus]
    UPDATE_STATUS_RUNNING: _ClassVar[UpdateStatus]
    UPDATE_STATUS_APPLIED: _ClassVar[UpdateStatus]
    UPDATE_STATUS_FAILED: _ClassVar[UpdateStatus]
    UPDATE_STATUS_DISCARDED: _ClassVar[UpdateStatus]

class DiscardPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DISCARD_POLICY_UNSPECIFIED: _ClassVar[DiscardPolicy]
    DISCARD_POLICY_NONE: _ClassVar[DiscardPolicy]
    DISCARD_POLICY_NUM_NEW_UPDATES: _ClassVar[DiscardPolicy]
    DISCARD_POLICY_SECONDS: _ClassVar[DiscardPolicy]
UPDATE_STATUS_UNSPECIFIED: UpdateStatus
UPDATE_STATUS_QUEUED: UpdateStatus
UPDATE_STATUS_RUNNING: UpdateStatus
UPDATE_STATUS_APPLIED: UpdateStatus
UPDATE_STATUS_FAILED: UpdateStatus
UPDATE_STATUS_DISCARDED: UpdateStatus
DISCARD_POLICY_UNSPECIFIED: DiscardPolicy
DISCARD_POLICY_NONE: DiscardPolicy
DISCARD_POLICY_NUM_NEW_UPDATES: DiscardPolicy
DISCARD_POLICY_SECONDS: DiscardPolicy

class InstanceRef(_message.Message):
    __slots__ = ("component", "instance_id")
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    component: str
    instance_id: str
    def __init__(self, component: _Optional[str] = ..., instance_id: _Optional[str] = ...) -> None: ...

class RunRequest(_message.Message):
    __slots__ = ("instance", "flow", "props", "pickled_props", "ignore_cache", "force_refresh", "flush_update", "init_state_params", "accept_pickle", "request_id")
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    FLOW_FIELD_NUMBER: _ClassVar[int]
    PROPS_FIELD_NUMBER: _ClassVar[int]
    PICKLED_PROPS_FIELD_NUMBER: _ClassVar[int]
    IGNORE_CACHE_FIELD_NUMBER: _ClassVar[int]
    FORCE_REFRESH_FIELD_NUMBER: _ClassVar[int]
    FLUSH_UPDATE_FIELD_NUMBER: _ClassVar[int]
    INIT_STATE_PARAMS_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_PICKLE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    instance: InstanceRef
    flow: str
    props: _struct_pb2.Struct
    pickled_props: bytes
    ignore_cache: bool
    force_refresh: bool
    flush_update: bool
    init_state_params: _struct_pb2.Struct
    accept_pickle: bool
    request_id: str
    def __init__(self, instance: _Optional[_Union[InstanceRef, _Mapping]] = ..., flow: _Optional[str] = ..., props: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., pickled_props: _Optional[bytes] = ..., ignore_cache: _Optional[bool] = ..., force_refresh: _Optional[bool] = ..., flush_update: _Optional[bool] = ..., init_state_params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., accept_pickle: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class RunResponse(_message.Message):
    __slots__ = ("result", "pickled_result", "version", "cached", "update_ids", "update_outcomes", "deduplicated")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    PICKLED_RESULT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    UPDATE_IDS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    DEDUPLICATED_FIELD_NUMBER: _ClassVar[int]
    result: _struct_pb2.Value
    pickled_result: bytes
    version: int
    cached: bool
    update_ids: _containers.RepeatedScalarFieldContainer[str]
    update_outcomes: _containers.RepeatedCompositeFieldContainer[UpdateOutcome]
    deduplicated: bool
    def __init__(self, result: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., pickled_result: _Optional[bytes] = ..., version: _Optional[int] = ..., cached: _Optional[bool] = ..., update_ids: _Optional[_Iterable[str]] = ..., update_outcomes: _Optional[_Iterable[_Union[UpdateOutcome, _Mapping]]] = ..., deduplicated: _Optional[bool] = ...) -> None: ...

class RunStreamResponse(_message.Message):
    __slots__ = ("item", "pickled_item", "version", "update_ids", "done", "update_outcomes", "deduplicated")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    PICKLED_ITEM_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPDATE_IDS_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    DEDUPLICATED_FIELD_NUMBER: _ClassVar[int]
    item: _struct_pb2.Value
    pickled_item: bytes
    version: int
    update_ids: _containers.RepeatedScalarFieldContainer[str]
    done: bool
    update_outcomes: _containers.RepeatedCompositeFieldContainer[UpdateOutcome]
    deduplicated: bool
    def __init__(self, item: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., pickled_item: _Optional[bytes] = ..., version: _Optional[int] = ..., update_ids: _Optional[_Iterable[str]] = ..., done: _Optional[bool] = ..., update_outcomes: _Optional[_Iterable[_Union[UpdateOutcome, _Mapping]]] = ..., deduplicated: _Optional[bool] = ...) -> None: ...

class UpdateOutcome(_message.Message):
    __slots__ = ("update_id", "flow", "op", "status", "error_type", "error_message", "version")
    UPDATE_ID_FIELD_NUMBER: _ClassVar[int]
    FLOW_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    update_id: str
    flow: str
    op: str
    status: UpdateStatus
    error_type: str
    error_message: str
    version: int
    def __init__(self, update_id: _Optional[str] = ..., flow: _Optional[str] = ..., op: _Optional[str] = ..., status: _Optional[_Union[UpdateStatus, str]] = ..., error_type: _Optional[str] = ..., error_message: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetStateRequest(_message.Message):
    __slots__ = ("instance", "keys", "accept_pickle", "version_only")
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_PICKLE_FIELD_NUMBER: _ClassVar[int]
    VERSION_ONLY_FIELD_NUMBER: _ClassVar[int]
    instance: InstanceRef
    keys: _containers.RepeatedScalarFieldContainer[str]
    accept_pickle: bool
    version_only: bool
    def __init__(self, instance: _Optional[_Union[InstanceRef, _Mapping]] = ..., keys: _Optional[_Iterable[str]] = ..., accept_pickle: _Optional[bool] = ..., version_only: _Optional[bool] = ...) -> None: ...

class GetStateResponse(_message.Message):
    __slots__ = ("state", "pickled_state", "version")
    class PickledStateEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    STATE_FIELD_NUMBER: _ClassVar[int]
    PICKLED_STATE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    state: _struct_pb2.Struct
    pickled_state: _containers.ScalarMap[str, bytes]
    version: int
    def __init__(self, state: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., pickled_state: _Optional[_Mapping[str, bytes]] = ..., version: _Optional[int] = ...) -> None: ...

class FlushUpdatesRequest(_message.Message):
    __slots__ = ("instance", "flow", "since_update_id")
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    FLOW_FIELD_NUMBER: _ClassVar[int]
    SINCE_UPDATE_ID_FIELD_NUMBER: _ClassVar[int]
    instance: InstanceRef
    flow: str
    since_update_id: str
    def __init__(self, instance: _Optional[_Union[InstanceRef, _Mapping]] = ..., flow: _Optional[str] = ..., since_update_id: _Optional[str] = ...) -> None: ...

class FlushUpdatesResponse(_message.Message):
    __slots__ = ("version", "failed")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    version: int
    failed: _containers.RepeatedCompositeFieldContainer[UpdateOutcome]
    def __init__(self, version: _Optional[int] = ..., failed: _Optional[_Iterable[_Union[UpdateOutcome, _Mapping]]] = ...) -> None: ...

class WatchUpdatesRequest(_message.Message):
    __slots__ = ("instance", "after_event_id", "flows", "include_state", "create_if_missing")
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    AFTER_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    FLOWS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_IF_MISSING_FIELD_NUMBER: _ClassVar[int]
    instance: InstanceRef
    after_event_id: str
    flows: _containers.RepeatedScalarFieldContainer[str]
    include_state: bool
    create_if_missing: bool
    def __init__(self, instance: _Optional[_Union[InstanceRef, _Mapping]] = ..., after_event_id: _Optional[str] = ..., flows: _Optional[_Iterable[str]] = ..., include_state: _Optional[bool] = ..., create_if_missing: _Optional[bool] = ...) -> None: ...

class WatchUpdatesResponse(_message.Message):
    __slots__ = ("event", "progress")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    event: UpdateEvent
    progress: Progress
    def __init__(self, event: _Optional[_Union[UpdateEvent, _Mapping]] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ...) -> None: ...

class UpdateEvent(_message.Message):
    __slots__ = ("event_id", "update_id", "flow", "op", "status", "version", "error_type", "error_message", "enqueued_at_ms", "at_ms", "attempt", "state", "state_version")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATE_ID_FIELD_NUMBER: _ClassVar[int]
    FLOW_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ENQUEUED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_VERSION_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    update_id: str
    flow: str
    op: str
    status: UpdateStatus
    version: int
    error_type: str
    error_message: str
    enqueued_at_ms: int
    at_ms: int
    attempt: int
    state: _struct_pb2.Struct
    state_version: int
    def __init__(self, event_id: _Optional[str] = ..., update_id: _Optional[str] = ..., flow: _Optional[str] = ..., op: _Optional[str] = ..., status: _Optional[_Union[UpdateStatus, str]] = ..., version: _Optional[int] = ..., error_type: _Optional[str] = ..., error_message: _Optional[str] = ..., enqueued_at_ms: _Optional[int] = ..., at_ms: _Optional[int] = ..., attempt: _Optional[int] = ..., state: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., state_version: _Optional[int] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("latest_event_id",)
    LATEST_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    latest_event_id: str
    def __init__(self, latest_event_id: _Optional[str] = ...) -> None: ...

class WriteStateRequest(_message.Message):
    __slots__ = ("instance", "patch", "pickled_patch")
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    PATCH_FIELD_NUMBER: _ClassVar[int]
    PICKLED_PATCH_FIELD_NUMBER: _ClassVar[int]
    instance: InstanceRef
    patch: _struct_pb2.Struct
    pickled_patch: bytes
    def __init__(self, instance: _Optional[_Union[InstanceRef, _Mapping]] = ..., patch: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., pickled_patch: _Optional[bytes] = ...) -> None: ...

class WriteStateResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class DescribeComponentsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeComponentsResponse(_message.Message):
    __slots__ = ("components",)
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    components: _containers.RepeatedCompositeFieldContainer[ComponentInfo]
    def __init__(self, components: _Optional[_Iterable[_Union[ComponentInfo, _Mapping]]] = ...) -> None: ...

class ComponentInfo(_message.Message):
    __slots__ = ("name", "params", "cache_ttl", "flows")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    CACHE_TTL_FIELD_NUMBER: _ClassVar[int]
    FLOWS_FIELD_NUMBER: _ClassVar[int]
    name: str
    params: _struct_pb2.Struct
    cache_ttl: float
    flows: _containers.RepeatedCompositeFieldContainer[FlowInfo]
    def __init__(self, name: _Optional[str] = ..., params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., cache_ttl: _Optional[float] = ..., flows: _Optional[_Iterable[_Union[FlowInfo, _Mapping]]] = ...) -> None: ...

class FlowInfo(_message.Message):
    __slots__ = ("key", "serve_op", "serve_is_generator", "update_ops")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SERVE_OP_FIELD_NUMBER: _ClassVar[int]
    SERVE_IS_GENERATOR_FIELD_NUMBER: _ClassVar[int]
    UPDATE_OPS_FIELD_NUMBER: _ClassVar[int]
    key: str
    serve_op: str
    serve_is_generator: bool
    update_ops: _containers.RepeatedCompositeFieldContainer[UpdateOpInfo]
    def __init__(self, key: _Optional[str] = ..., serve_op: _Optional[str] = ..., serve_is_generator: _Optional[bool] = ..., update_ops: _Optional[_Iterable[_Union[UpdateOpInfo, _Mapping]]] = ...) -> None: ...

class UpdateOpInfo(_message.Message):
    __slots__ = ("name", "discard_policy", "discard_after", "batch_size")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISCARD_POLICY_FIELD_NUMBER: _ClassVar[int]
    DISCARD_AFTER_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    name: str
    discard_policy: DiscardPolicy
    discard_after: float
    batch_size: int
    def __init__(self, name: _Optional[str] = ..., discard_policy: _Optional[_Union[DiscardPolicy, str]] = ..., discard_after: _Optional[float] = ..., batch_size: _Optional[int] = ...) -> None: ...

class ListInstancesRequest(_message.Message):
    __slots__ = ("component", "page_size", "page_token")
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    component: str
    page_size: int
    page_token: str
    def __init__(self, component: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListInstancesResponse(_message.Message):
    __slots__ = ("instance_ids", "next_page_token")
    INSTANCE_IDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    instance_ids: _containers.RepeatedScalarFieldContainer[str]
    next_page_token: str
    def __init__(self, instance_ids: _Optional[_Iterable[str]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteInstanceRequest(_message.Message):
    __slots__ = ("instance",)
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    instance: InstanceRef
    def __init__(self, instance: _Optional[_Union[InstanceRef, _Mapping]] = ...) -> None: ...

class DeleteInstanceResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: _Optional[bool] = ...) -> None: ...
