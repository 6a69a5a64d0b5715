"""What the resource handlers (NSGs, security rules, ASGs, virtual networks) share: request-body fields,
paging, and the create/update/delete sequence every top-level resource follows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .errors import bad_request
from .lro import Operations
from .model import Key, Request, Response, Settings, TopLevel, key_of, new_etag
from .store import Store, check_preconditions
from .validation import canonical_location, validate_name

R = TypeVar("R", bound=TopLevel)


def read_location(body: dict[str, Any]) -> str:
    location = body.get("location")
    if not location or not isinstance(location, str):
        raise bad_request("LocationRequired", "The location property is required for this definition.")
    return canonical_location(location)


def read_tags(body: dict[str, Any]) -> dict[str, str]:
    tags = body.get("tags")
    if tags is None:
        return {}
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise bad_request("InvalidRequestContent", "The tags must be a JSON object of string values.")
    return dict(tags)


def read_properties(body: dict[str, Any], type_name: str) -> dict[str, Any]:
    props = body.get("properties")
    if props is None:
        return {}
    if not isinstance(props, dict):
        raise bad_request("InvalidRequestContent", f"The properties of a {type_name} must be a JSON object.")
    return props


def check_location_unchanged(name: str, rg: str, current: str, wanted: str) -> None:
    if current != wanted:
        raise bad_request(
            "InvalidResourceLocation",
            f"The resource '{name}' already exists in location '{current}' in resource group '{rg}'. A resource "
            f"with the same name cannot be created in location '{wanted}'. Please select a new resource name.",
        )


def render_top_level(res: TopLevel, type_name: str, props: dict[str, Any]) -> dict[str, Any]:
    """The ARM envelope of a top-level resource around its ``properties``."""
    return {
        "name": res.name,
        "id": res.id,
        "etag": res.etag,
        "type": type_name,
        "location": res.location,
        "tags": dict(res.tags),
        "properties": props,
    }


class PutStart:
    """The parts of a PUT of a top-level resource that every type checks the same way."""

    def __init__(self, sub: str, body: dict[str, Any], key: Key, location: str, tags: dict[str, str]) -> None:
        self.sub = sub  # as spelled in this request's URL, which the operation's URLs repeat
        self.body = body
        self.key = key
        self.location = location
        self.tags = tags


class Handlers:
    """Base of the per-type handler classes; ``routes`` names the routes (routes.py) a class serves.

    A route ``name`` is served by the method ``{name}_{http method}``, e.g. ``nsg_put``.
    """

    routes: tuple[str, ...] = ()

    def __init__(self, settings: Settings, store: Store, ops: Operations) -> None:
        self.settings = settings
        self.store = store
        self.ops = ops

    def page(self, req: Request, items: list[dict[str, Any]]) -> Response:
        """One page of a list; ``nextLink`` carries the offset as ``$skipToken`` and the api-version."""
        token = req.query.get("$skiptoken", "0")
        if not token.isdigit():
            raise bad_request("InvalidSkipToken", f"The skip token '{token}' is invalid.")
        start = int(token)
        end = start + self.settings.page_size
        body: dict[str, Any] = {"value": items[start:end]}
        if end < len(items):
            body["nextLink"] = f"{req.base}{req.path}?api-version={req.api_version}&$skipToken={end}"
        return 200, {}, body

    def begin_put(self, req: Request, table: dict[Key, R], sub: str, rg: str, name: str) -> tuple[PutStart, R | None]:
        """Body, name, etag, lock and location checks of a PUT; returns them and the existing resource."""
        body = req.json_object()
        validate_name(name)
        key = key_of(sub, rg, name)
        existing = table.get(key)
        check_preconditions(req, existing.etag if existing else None)
        if existing is not None:
            self.ops.ensure_unlocked(existing.id)
        location = read_location(body)
        if existing is not None:
            check_location_unchanged(name, rg, existing.location, location)
        return PutStart(sub, body, key, location, read_tags(body)), existing

    def end_put(
        self, req: Request, table: dict[Key, R], start: PutStart, target: R, *, existed: bool, targets: list[Any]
    ) -> tuple[int, dict[str, str]]:
        """Store the written resource as Updating and start its operation: (status, LRO headers)."""
        target.tags = start.tags
        target.etag = new_etag()
        target.state = "Updating"
        table[start.key] = target
        headers = self.ops.start(req, start.sub, start.location, lock=target.id, targets=[target, *targets])
        return (200 if existed else 201), headers

    def patch_tags(self, req: Request, get: Callable[[], R]) -> R:
        """PATCH of a top-level resource: only its tags change (no operation, 200)."""
        body = req.json_object()
        target = get()
        check_preconditions(req, target.etag)
        self.ops.ensure_unlocked(target.id)
        target.tags = read_tags(body)
        target.etag = new_etag()
        return target

    def delete(
        self,
        req: Request,
        sub: str,
        table: dict[Key, R],
        key: Key,
        *,
        check_etag: bool = True,
        in_use: Callable[[R], None] | None = None,
    ) -> Response:
        """DELETE of a top-level resource: 204 if absent, else Deleting and an operation that removes it."""
        target = table.get(key)
        if check_etag:
            check_preconditions(req, target.etag if target else None)
        if target is None:
            return 204, {}, None
        self.ops.ensure_unlocked(target.id)
        if in_use is not None:
            in_use(target)
        target.state = "Deleting"

        def remove() -> None:
            if table.get(key) is target:
                del table[key]

        headers = self.ops.start(
            req, sub, target.location, lock=target.id, targets=[target], on_success=remove, delete=True
        )
        return 202, headers, None
