import json

import pytest

from segfn.errors import BodyError
from segfn.request import URL, FormData, Headers, Request, SearchParams
from tests.paths import PAYLOADS


def load_payload(name: str) -> Request:
    """A Request built the way `segfn invoke --payload` builds one."""
    payload = json.loads((PAYLOADS / name).read_text())["payload"]
    headers = []
    for key, value in payload.get("headers", {}).items():
        # The recorded deliveries list each header's values; a few give a bare string.
        values = value if isinstance(value, list) else [value]
        headers.extend((key, v) for v in values)
    return Request(json.dumps(payload["body"]).encode(), headers, "http://localhost/")


def request(body: bytes = b"", headers=(), url: str = "http://localhost/", **kw) -> Request:
    return Request(body, headers, url, **kw)


# Headers


def test_headers_are_case_insensitive():
    headers = Headers([("X-GitHub-Event", "issues")])
    assert headers.get("x-github-event") == "issues"
    assert headers.get("X-GITHUB-EVENT") == "issues"
    assert headers["x-GitHub-event"] == "issues"
    assert headers.has("X-Github-Event")
    assert "x-github-event" in headers
    assert "X-GITHUB-EVENT" in headers


def test_headers_join_repeated_values_in_order():
    headers = Headers([("Accept", "text/html"), ("X-Other", "1"), ("accept", "application/json")])
    assert headers.get("accept") == "text/html, application/json"
    assert headers["ACCEPT"] == "text/html, application/json"
    assert headers.get_all("Accept") == ["text/html", "application/json"]


def test_headers_items_keys_and_iteration_give_each_lower_case_name_once():
    headers = Headers([("B-Header", "1"), ("A-Header", "2"), ("b-header", "3")])
    assert headers.items() == [("b-header", "1, 3"), ("a-header", "2")]
    assert headers.keys() == ["b-header", "a-header"]
    assert list(headers) == ["b-header", "a-header"]
    assert len(headers) == 2
    assert headers.to_dict() == {"b-header": "1, 3", "a-header": "2"}


def test_headers_missing_name():
    headers = Headers([("A", "1")])
    assert headers.get("b") is None
    assert headers.get("b", "fallback") == "fallback"
    assert headers.get_all("b") == []
    assert not headers.has("b")
    assert "b" not in headers
    assert 1 not in headers
    with pytest.raises(KeyError, match="'b'"):
        headers["b"]


def test_headers_empty_value_is_present():
    headers = Headers([("X-Empty", "")])
    assert headers.has("x-empty")
    assert headers.get("x-empty") == ""
    assert headers["x-empty"] == ""


def test_headers_accept_a_mapping():
    headers = Headers({"Content-Type": "application/json"})
    assert headers.get("content-type") == "application/json"


def test_headers_get_all_returns_a_copy():
    headers = Headers([("A", "1")])
    headers.get_all("a").append("2")
    assert headers.get("a") == "1"


def test_headers_are_immutable():
    headers = Headers([("A", "1")])
    with pytest.raises(TypeError):
        headers["a"] = "2"
    with pytest.raises(AttributeError):
        headers.extra = 1


# URL


def test_url_parts():
    url = URL("https://example.com:8443/hooks/abc?x=1&y=two#frag")
    assert url.href == "https://example.com:8443/hooks/abc?x=1&y=two#frag"
    assert url.scheme == "https"
    assert url.host == "example.com:8443"
    assert url.hostname == "example.com"
    assert url.port == "8443"
    assert url.path == "/hooks/abc"
    assert url.query == "x=1&y=two"
    assert str(url) == url.href


def test_url_without_port_path_or_query():
    url = URL("http://localhost")
    assert url.host == "localhost"
    assert url.hostname == "localhost"
    assert url.port == ""
    assert url.path == "/"
    assert url.query == ""
    assert list(url.search_params) == []


def test_url_ipv6_host_keeps_brackets_like_javascript():
    url = URL("http://[::1]:8080/p")
    assert url.hostname == "[::1]"
    assert url.host == "[::1]:8080"
    assert url.port == "8080"
    assert URL("http://[2001:db8::1]/").host == "[2001:db8::1]"


def test_url_hostname_excludes_credentials():
    url = URL("http://user:pw@Example.COM:81/")
    assert url.hostname == "example.com"
    assert url.host == "example.com:81"


@pytest.mark.parametrize(
    "href", ["/hooks/abc", "garbage", "http://", "example.com/path", "mailto:a@b.c", ""]
)
def test_url_refuses_relative_or_garbage(href):
    with pytest.raises(ValueError, match="invalid URL"):
        URL(href)


@pytest.mark.parametrize("href", ["http://x:99999/", "http://x:port/", "http://[::1/"])
def test_url_refuses_bad_port_or_host(href):
    with pytest.raises(ValueError, match="invalid URL"):
        URL(href)


def test_url_refuses_non_string():
    with pytest.raises(TypeError, match="bytes"):
        URL(b"http://x/")


def test_search_params_alias_is_the_same_object():
    url = URL("http://localhost/?a=1")
    assert url.searchParams is url.search_params
    assert url.searchParams.get("a") == "1"


def test_search_params_multi_values_and_order():
    params = URL("http://localhost/?tag=a&name=Jane+Doe&tag=b&empty=&flag&e=%C3%A9").search_params
    assert params.get("tag") == "a"
    assert params.get_all("tag") == ["a", "b"]
    assert params.get("name") == "Jane Doe"
    assert params.get("empty") == ""
    assert params.get("flag") == ""
    assert params.get("e") == "é"
    assert params.get("missing") is None
    assert params.get("missing", "d") == "d"
    assert params.get_all("missing") == []
    assert params.has("flag") and "tag" in params and "missing" not in params
    assert list(params) == [
        ("tag", "a"),
        ("name", "Jane Doe"),
        ("tag", "b"),
        ("empty", ""),
        ("flag", ""),
        ("e", "é"),
    ]
    assert len(params) == 6
    assert params.keys() == ["tag", "name", "empty", "flag", "e"]
    assert params.to_dict() == {"tag": "a", "name": "Jane Doe", "empty": "", "flag": "", "e": "é"}


def test_search_params_from_a_query_string():
    params = SearchParams("?a=1&a=2")
    assert params.get_all("a") == ["1", "2"]
    assert params["a"] == "1"
    with pytest.raises(KeyError, match="'b'"):
        params["b"]


# Request basics


def test_request_method_body_and_repr():
    req = request(b'{"a": 1}', [("Content-Type", "application/json")], "http://localhost/x?y=1")
    assert req.method == "POST"
    assert req.raw_body == b'{"a": 1}'
    assert isinstance(req.raw_body, bytes)
    assert isinstance(req.headers, Headers)
    assert isinstance(req.url, URL)
    assert req.url.path == "/x"
    assert repr(req) == "<Request POST http://localhost/x?y=1 8 bytes>"


def test_request_accepts_bytearray_and_a_url_object():
    url = URL("http://localhost/")
    req = Request(bytearray(b"{}"), [], url)
    assert req.raw_body == b"{}" and type(req.raw_body) is bytes
    assert req.url is url


def test_request_members_are_read_only():
    req = request(b"{}")
    with pytest.raises(AttributeError):
        req.raw_body = b"x"
    with pytest.raises(AttributeError):
        req.method = "GET"
    with pytest.raises(AttributeError):
        req.anything = 1


def test_public_names_expose_no_internal_state():
    # The sandbox cannot reach names starting with "_"; every other name must be harmless:
    # a method of the object itself, or an immutable value or another of these objects.
    req = request(b"a=1", [("A", "1")], "http://localhost/?q=1")
    safe = str | bytes | Headers | URL | SearchParams
    for obj in (req, req.headers, req.url, req.url.search_params, req.form()):
        for name in dir(obj):
            if name.startswith("_"):
                continue
            value = getattr(obj, name)
            if callable(value):
                assert value.__self__ is obj, name
            else:
                assert isinstance(value, safe), f"{type(obj).__name__}.{name}"


# json()


def test_json_parses_the_body():
    assert request(b'{"a": [1, 2.5, null, true], "b": "\xc3\xa9"}').json() == {
        "a": [1, 2.5, None, True],
        "b": "é",
    }


def test_json_returns_a_fresh_value_each_call():
    req = request(b'{"a": []}')
    req.json()["a"].append(1)
    assert req.json() == {"a": []}


def test_json_keeps_key_order_when_not_alphabetized():
    assert list(request(b'{"b": 1, "a": 2}').json()) == ["b", "a"]


def test_json_alphabetizes_at_every_depth_and_keeps_last_repeated_key():
    body = (
        b'{"z": {"y": 1, "b": {"d": 1, "c": 2}}, "a": [{"n": 1, "m": 2}], "z2": 1, "k": 1, "k": 2}'
    )
    data = request(body, alphabetize=True).json()
    assert list(data) == ["a", "k", "z", "z2"]
    assert list(data["z"]) == ["b", "y"]
    assert list(data["z"]["b"]) == ["c", "d"]
    assert list(data["a"][0]) == ["m", "n"]
    assert data["k"] == 2
    assert request(b'{"k": 1, "k": 2}').json() == {"k": 2}


def test_alphabetize_leaves_raw_body_and_text_as_received():
    body = b'{"b": 1, "a": 2}'
    req = request(body, alphabetize=True)
    assert req.raw_body == body
    assert req.text() == body.decode()


def test_json_empty_body_is_a_body_error():
    with pytest.raises(BodyError, match="empty"):
        request(b"").json()


def test_json_invalid_json_names_the_position():
    with pytest.raises(BodyError) as info:
        request(b"not json").json()
    assert str(info.value) == "request body is not JSON: Expecting value at character 0"
    with pytest.raises(BodyError, match="at character 16$"):
        request(b'{"a": 1,\n  "b": }').json()


def test_json_errors_are_value_errors():
    with pytest.raises(ValueError):
        request(b"{").json()


def test_json_invalid_utf8():
    with pytest.raises(BodyError, match="not valid UTF-8.*byte 6"):
        request(b'{"a": \xff}').json()


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity", b'{"a": NaN}'])
def test_json_refuses_non_json_constants(constant):
    with pytest.raises(BodyError, match="not a JSON value"):
        request(constant).json()


def test_json_too_deep_is_a_body_error():
    with pytest.raises(BodyError, match="nested too deeply"):
        request(b"[" * 200_000 + b"]" * 200_000).json()


def test_json_integer_past_the_digit_limit_is_a_body_error():
    with pytest.raises(BodyError, match="not JSON"):
        request(b"1" * 5000).json()


def test_json_tolerates_a_byte_order_mark():
    assert request(b'\xef\xbb\xbf{"a": 1}').json() == {"a": 1}


def test_json_top_level_scalars_and_arrays():
    assert request(b"[1, 2]").json() == [1, 2]
    assert request(b'"s"').json() == "s"
    assert request(b"null").json() is None


# text()


def test_text_defaults_to_utf8():
    assert request("héllo".encode()).text() == "héllo"


def test_text_uses_the_content_type_charset():
    body = "héllo".encode("latin-1")
    req = request(body, [("Content-Type", 'text/plain; Charset="ISO-8859-1"')])
    assert req.text() == "héllo"
    req = request("héllo".encode("utf-16"), [("content-type", "text/plain;charset=utf-16")])
    assert req.text() == "héllo"


def test_text_ignores_other_parameters():
    req = request(b"abc", [("Content-Type", "application/json; boundary=x")])
    assert req.text() == "abc"


def test_text_invalid_utf8_is_a_body_error():
    with pytest.raises(BodyError, match="not valid utf-8"):
        request(b"caf\xe9").text()


def test_text_undecodable_in_named_charset():
    with pytest.raises(BodyError, match="ascii"):
        request(b"caf\xe9", [("Content-Type", "text/plain; charset=ascii")]).text()


@pytest.mark.parametrize("charset", ["klingon", "base64", "zlib"])
def test_text_unknown_or_non_text_charset(charset):
    req = request(b"abc", [("Content-Type", f"text/plain; charset={charset}")])
    with pytest.raises(BodyError, match="charset"):
        req.text()


# form()


def test_form_multi_values():
    req = request(
        b"name=Jane+Doe&tag=a&tag=b&empty=&e=%C3%A9&amp%26=x%3Dy",
        [("Content-Type", "application/x-www-form-urlencoded")],
    )
    form = req.form()
    assert isinstance(form, FormData)
    assert form["name"] == "Jane Doe"
    assert form.get("tag") == "a"
    assert form["tag"] == "a"
    assert form.get_all("tag") == ["a", "b"]
    assert form.get("empty") == ""
    assert form.get("e") == "é"
    assert form.get("amp&") == "x=y"
    assert form.get("missing") is None
    assert form.get("missing", "d") == "d"
    assert form.get_all("missing") == []
    assert "tag" in form and "missing" not in form
    assert len(form) == 5
    assert list(form) == ["name", "tag", "empty", "e", "amp&"]
    assert form.keys() == ["name", "tag", "empty", "e", "amp&"]
    assert form.items() == [
        ("name", "Jane Doe"),
        ("tag", "a"),
        ("empty", ""),
        ("e", "é"),
        ("amp&", "x=y"),
    ]
    assert form.to_dict() == {"name": "Jane Doe", "tag": "a", "empty": "", "e": "é", "amp&": "x=y"}


def test_form_missing_name_is_a_key_error_naming_it():
    with pytest.raises(KeyError, match="'nope'"):
        request(b"a=1").form()["nope"]


def test_form_empty_body_is_empty():
    form = request(b"").form()
    assert len(form) == 0 and list(form) == []


@pytest.mark.parametrize("body", [b"a=%FF", b"a=\xff"])
def test_form_invalid_utf8_is_a_body_error(body):
    with pytest.raises(BodyError, match="UTF-8"):
        request(body).form()


def test_form_get_all_returns_a_copy():
    form = request(b"a=1").form()
    form.get_all("a").append("2")
    assert form.get_all("a") == ["1"]


# Real deliveries


def test_github_issue_opened():
    req = load_payload("github/issue-opened.json")
    body = req.json()
    assert req.headers.get("X-GitHub-Event") == "issues"
    assert req.headers.get("x-github-event") == "issues"
    assert body["action"] == "opened"
    assert body["issue"]["user"]["login"] == "nzoschke"
    assert str(body["sender"]["id"]).isdigit()


def test_close_io_signature_over_raw_body():
    req = load_payload("close-io/contact_created.json")
    body = json.loads((PAYLOADS / "close-io/contact_created.json").read_text())["payload"]["body"]
    sent = json.dumps(body).encode()
    assert req.headers.get("content-type") == "application/json"
    assert len(req.headers["close-sig-hash"]) == 64
    # A handler signs the raw body, so it must be the bytes sent, not a re-serialization.
    assert req.raw_body == sent
    assert req.json() == body


def test_audit_forwarding_repeated_header_values():
    req = load_payload("audit-forwarding/audience_star.json")
    assert req.headers.get_all("Accept-Encoding") == ["gzip, deflate", "identity"]
    assert req.headers.get("accept-encoding") == "gzip, deflate, identity"
    assert req.headers.get("User-Agent") == "Segment.io/1.0"


def test_alphabetized_real_payload_matches_sorted_original():
    original = load_payload("stripe-events/charge-succeeded.json")
    req = Request(
        original.raw_body, original.headers.items(), "http://localhost/", alphabetize=True
    )

    def sorted_keys(value):
        if isinstance(value, dict):
            return {k: sorted_keys(value[k]) for k in sorted(value)}
        if isinstance(value, list):
            return [sorted_keys(v) for v in value]
        return value

    data = req.json()
    assert data == original.json()
    assert json.dumps(data) == json.dumps(sorted_keys(original.json()))
    assert list(data) == sorted(data)
