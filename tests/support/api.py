"""Checks on the dispatch API's answers."""


def assert_error(response, status: int, code: str, fields: tuple[str, ...] = ()) -> dict:
    """The stable error shape: status, code, a sentence, and the fields at fault."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "detail", "fields"}
    assert body["code"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    assert tuple(sorted(body["fields"])) == tuple(sorted(fields))
    return body
