"""Routing, negotiation and validation errors, each in the one JSON error shape."""

from __future__ import annotations

import json

import pytest

from testkit.clients import RawClient


@pytest.fixture
def c(serve):
    running = serve()
    with RawClient(running.address, running.ca_file) as connection:
        yield connection


def error_of(response, status, code):
    assert response.status == status
    assert response.header("content-type") == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert error["status"] == status
    assert isinstance(error["message"], str)
    assert error["message"]
    return error


def post_json(c, path, payload, **headers):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return c.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})


def test_unknown_path_is_404(c):
    error_of(c.request("GET", "/nowhere"), 404, "not_found")


def test_path_parameter_that_does_not_convert_is_404(c):
    error_of(c.request("GET", "/items/abc"), 404, "not_found")
    assert c.request("GET", "/items/42").json() == {"message": "item 42"}


def test_wrong_method_is_405_with_allow(c):
    response = c.request("PUT", "/items/1")
    error_of(response, 405, "method_not_allowed")
    assert response.header("allow") == "GET, HEAD, DELETE"
    assert c.request("POST", "/hello").header("allow") == "GET, HEAD"


def test_unacceptable_accept_is_406(c):
    error_of(c.request("GET", "/hello", headers={"Accept": "text/html"}), 406, "not_acceptable")
    assert c.request("GET", "/hello", headers={"Accept": "text/html, application/*;q=0.5"}).status == 200
    assert c.request("GET", "/text", headers={"Accept": "text/plain"}).body == b"plain"
    error_of(c.request("GET", "/text", headers={"Accept": "application/json"}), 406, "not_acceptable")


def test_body_that_is_not_json_is_415(c, probe):
    response = c.request(
        "POST", "/echo", body=b"text=hi", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    error_of(response, 415, "unsupported_media_type")
    assert probe.echo_calls == 0


def test_missing_content_type_is_415(c):
    error_of(c.request("POST", "/echo", body=b'{"text":"a","count":1}'), 415, "unsupported_media_type")


def test_charset_other_than_utf8_is_415(c):
    response = c.request(
        "POST", "/echo", body=b"{}", headers={"Content-Type": "application/json; charset=latin-1"}
    )
    error_of(response, 415, "unsupported_media_type")


def test_invalid_body_is_422_with_field_paths_and_no_input_echoed(c, probe):
    response = post_json(c, "/echo", {"text": "8001015009087" * 10, "count": -1})
    error = error_of(response, 422, "invalid_body")
    locations = {detail["loc"] for detail in error["details"]}
    assert locations == {"body.text", "body.count"}
    assert "8001015009087" not in response.body.decode()
    assert probe.echo_calls == 0


def test_malformed_json_is_422(c):
    error = error_of(post_json(c, "/echo", b'{"text": '), 422, "invalid_body")
    assert error["details"][0]["loc"].startswith("body")


def test_wrong_type_is_422(c):
    error = error_of(post_json(c, "/echo", {"text": 5, "count": "many"}), 422, "invalid_body")
    assert {detail["loc"] for detail in error["details"]} == {"body.text", "body.count"}


def test_invalid_query_is_422(c):
    error = error_of(c.request("GET", "/slow?seconds=forever"), 422, "invalid_query")
    assert error["details"][0]["loc"] == "query.seconds"


def test_valid_body_reaches_the_handler(c, probe):
    response = post_json(c, "/echo", {"text": "hello", "count": 2})
    assert response.status == 200
    assert response.json()["text"] == "hello"
    assert probe.echo_calls == 1


def test_handler_http_error_keeps_its_status_and_code(c):
    error_of(c.request("GET", "/teapot"), 418, "teapot")


def test_protected_route_without_authentication_is_401(c):
    error_of(post_json(c, "/protected", {"text": "a", "count": 1}), 401, "unauthenticated")
