"""ML Metadata 1.16 on PostgreSQL: the one adapter around its string-escaping bug.

MLMD's PostgreSQL backend writes a string value that holds a backslash as `'E'...''` (its own
E'' escape wrapped in a second pair of quotes), and the server rejects the statement. TFX
stores such strings: a failed execution's `__execution_result__` (a text proto, where quotes and
newlines are escaped), JSON with escaped quotes. The node then fails on its own bookkeeping, and
the run never records why it failed.

`install()` wraps `MetadataStore._call` (MLMD's private method through which every request
passes) for stores on PostgreSQL only: every backslash in a request's strings is stored as
U+E05C (a private-use character) and turned back into a backslash in every response, so
readers through this module see the original text. A reader that does not install it (psql, a
foreign tool) sees U+E05C where a backslash was. SQLite stores are untouched.
"""

from __future__ import annotations

import functools

STORED = "\ue05c"


def _map_strings(message, fn) -> None:
    """Applies `fn` to every string in `message`, nested messages and maps included."""
    for field, value in message.ListFields():
        if field.type == field.TYPE_MESSAGE:
            if field.message_type.GetOptions().map_entry:
                value_field = field.message_type.fields_by_name["value"]
                for key in list(value):
                    if value_field.type == value_field.TYPE_MESSAGE:
                        _map_strings(value[key], fn)
                    elif value_field.type == value_field.TYPE_STRING:
                        value[key] = fn(value[key])
            elif field.label == field.LABEL_REPEATED:
                for item in value:
                    _map_strings(item, fn)
            else:
                _map_strings(value, fn)
        elif field.type == field.TYPE_STRING:
            if field.label == field.LABEL_REPEATED:
                value[:] = [fn(v) for v in value]
            else:
                setattr(message, field.name, fn(value))


def _encode(text: str) -> str:
    return text.replace("\\", STORED) if "\\" in text else text


def _decode(text: str) -> str:
    return text.replace(STORED, "\\") if STORED in text else text


def _on_postgres(store) -> bool:
    from ml_metadata.proto import metadata_store_pb2

    config = store._config  # a ConnectionConfig, or a gRPC client config
    return (
        isinstance(config, metadata_store_pb2.ConnectionConfig)
        and config.WhichOneof("config") == "postgresql"
    )


def install() -> None:
    """Wraps MetadataStore._call once per process (idempotent)."""
    from ml_metadata.metadata_store import metadata_store

    cls = metadata_store.MetadataStore
    if getattr(cls._call, "_retrain_postgres", False):
        return
    original = cls._call

    @functools.wraps(original)
    def _call(self, method_name, request, response, *args, **kwargs):
        if not _on_postgres(self):
            return original(self, method_name, request, response, *args, **kwargs)
        encoded = type(request)()
        encoded.CopyFrom(request)
        _map_strings(encoded, _encode)
        out = original(self, method_name, encoded, response, *args, **kwargs)
        _map_strings(response, _decode)
        return out

    _call._retrain_postgres = True
    cls._call = _call
