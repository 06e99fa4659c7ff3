"""A Plivo account behind HTTP mocked with ``responses``.

The real SDK sends real ``requests`` calls; ``responses`` answers them the
way Plivo's REST API does (JSON bodies, ``meta.next`` paging, 201/202 codes),
and refuses any request to a URL that was not registered, such as a host
other than the one under test.
"""

import json
import re
from urllib.parse import parse_qs, urlsplit

import responses

DEFAULT_API_URL = "https://api.plivo.com"
AUTH_ID = "MAXXXXXXXXXXXXXXXXXX"  # tests/settings.py


class FakePlivoAccount:
    def __init__(self, mocked: responses.RequestsMock, api_url: str = DEFAULT_API_URL) -> None:
        self.mocked = mocked
        self.base = f"{api_url}/v1/Account/{AUTH_ID}/"
        self.numbers: dict[str, dict] = {}  # digits -> Plivo's number object
        self.applications: dict[str, dict] = {}  # app_id -> Plivo's application object
        self.next_app_id = 1000
        self.calls: list[dict] = []  # the Call API requests Plivo accepted, as it received them
        # (HTTP status, error body) the Call API answers with instead of placing the call.
        self.call_refusal: tuple[int, dict] | None = None
        mocked.add_callback(responses.GET, self.base + "Number/", callback=self._list_numbers)
        mocked.add_callback(
            responses.POST, re.compile(re.escape(self.base) + r"Number/(\d+)/$"), callback=self._update_number
        )
        mocked.add_callback(responses.GET, self.base + "Application/", callback=self._list_applications)
        mocked.add_callback(responses.POST, self.base + "Application/", callback=self._create_application)
        mocked.add_callback(
            responses.POST, re.compile(re.escape(self.base) + r"Application/(\w+)/$"), callback=self._update_application
        )
        mocked.add_callback(responses.POST, self.base + "Call/", callback=self._create_call)

    # account state

    def rent(self, number: str, *, alias: str = "", voice: bool = True, app_id: str = "") -> None:
        digits = number.lstrip("+")
        self.numbers[digits] = {
            "number": digits,
            "alias": alias or None,
            "voice_enabled": voice,
            "sms_enabled": True,
            "number_type": "local",
            "application": f"/v1/Account/{AUTH_ID}/Application/{app_id}/" if app_id else None,
            "resource_uri": f"/v1/Account/{AUTH_ID}/Number/{digits}/",
        }

    def add_application(self, app_name: str, **fields: str) -> str:
        app_id = str(self.next_app_id)
        self.next_app_id += 1
        self.applications[app_id] = {"app_id": app_id, "app_name": app_name, **fields}
        return app_id

    def linked_app(self, number: str) -> str:
        uri = self.numbers[number.lstrip("+")]["application"] or ""
        return uri.rstrip("/").rsplit("/", 1)[-1] if uri else ""

    # requests the SDK made

    def requests(self, method: str, path: str = "") -> list:
        return [
            call.request
            for call in self.mocked.calls
            if call.request.method == method and urlsplit(call.request.url).path.endswith(path)
        ]

    # Plivo's answers

    def _page(self, request, objects: list[dict], path: str) -> tuple[int, dict, str]:
        query = parse_qs(urlsplit(request.url).query)
        limit, offset = int(query.get("limit", ["20"])[0]), int(query.get("offset", ["0"])[0])
        page = objects[offset : offset + limit]
        more = offset + limit < len(objects)
        meta = {
            "limit": limit,
            "offset": offset,
            "total_count": len(objects),
            "previous": None,
            "next": f"/v1/Account/{AUTH_ID}/{path}/?limit={limit}&offset={offset + limit}" if more else None,
        }
        return 200, {}, json.dumps({"api_id": "fake", "meta": meta, "objects": page})

    def _list_numbers(self, request):
        query = parse_qs(urlsplit(request.url).query)
        numbers = list(self.numbers.values())
        if query.get("services") == ["voice"]:
            numbers = [number for number in numbers if number["voice_enabled"]]
        return self._page(request, numbers, "Number")

    def _update_number(self, request):
        digits = urlsplit(request.url).path.rstrip("/").rsplit("/", 1)[-1]
        if digits not in self.numbers:
            return 404, {}, json.dumps({"api_id": "fake", "error": "not found"})
        app_id = json.loads(request.body)["app_id"]
        self.numbers[digits]["application"] = f"/v1/Account/{AUTH_ID}/Application/{app_id}/"
        return 202, {}, json.dumps({"api_id": "fake", "message": "changed"})

    def _list_applications(self, request):
        # Like a server that ignores the name filter: the command must match exactly itself.
        return self._page(request, list(self.applications.values()), "Application")

    def _create_application(self, request):
        fields = json.loads(request.body)
        app_id = self.add_application(**fields)
        return 201, {}, json.dumps({"api_id": "fake", "app_id": app_id, "message": "created"})

    def _update_application(self, request):
        app_id = urlsplit(request.url).path.rstrip("/").rsplit("/", 1)[-1]
        if app_id not in self.applications:
            return 404, {}, json.dumps({"api_id": "fake", "error": "not found"})
        self.applications[app_id].update(json.loads(request.body))
        return 202, {}, json.dumps({"api_id": "fake", "message": "changed"})

    def _create_call(self, request):
        if self.call_refusal is not None:
            status, body = self.call_refusal
            return status, {}, json.dumps({"api_id": "fake", **body})
        fields = json.loads(request.body)
        request_uuid = f"fake-request-{len(self.calls) + 1}"
        self.calls.append({**fields, "request_uuid": request_uuid})
        return 201, {}, json.dumps({"api_id": "fake", "message": "call fired", "request_uuid": request_uuid})
