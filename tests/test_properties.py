import pytest

from segfn import ValidationError, compact, require


def test_compact_drops_empty_values_only() -> None:
    sent = {"name": "Ada", "none": None, "blank": "", "list": [], "dict": {},
            "zero": 0, "false": False, "space": " ", "items": [None]}
    assert compact(sent) == {"name": "Ada", "zero": 0, "false": False, "space": " ",
                             "items": [None]}


def test_compact_is_available_inside_handlers(load_handler) -> None:
    handler = load_handler(source="""
def on_request(request, settings):
    Segment.identify(user_id="1", traits=compact(request.json()))
""")
    result = handler.post(json={"email": "a@b.c", "phone": None, "tags": []})
    assert result.identifies[0]["traits"] == {"email": "a@b.c"}


@pytest.mark.parametrize(("path", "value"), [
    ("issue.user.id", 7), ("items.1.sku", "b"), ("issue.title", "Bug"),
])
def test_require_walks_dicts_and_lists(path: str, value: object) -> None:
    data = {"issue": {"title": "Bug", "user": {"id": 7}}, "items": [{"sku": "a"}, {"sku": "b"}]}
    assert require(data, path) == value


@pytest.mark.parametrize("path", ["issue.missing", "issue.empty", "items.5.sku", "items.x",
                                  "issue.title.deeper", "none"])
def test_require_names_what_is_missing(path: str) -> None:
    data = {"issue": {"title": "Bug", "empty": ""}, "items": [{"sku": "a"}], "none": None}
    with pytest.raises(ValidationError, match=f"^body.{path} is missing$"):
        require(data, path, within="body")


def test_require_keeps_zero_and_false() -> None:
    assert require({"n": 0, "b": False}, "n") == 0
    assert require({"n": 0, "b": False}, "b") is False


def test_a_missing_field_is_message_rejected_in_a_handler(load_handler) -> None:
    handler = load_handler(source="""
def on_request(request, settings):
    Segment.track(user_id=require(request.json(), "user.id", within="body"), event="X")
""")
    result = handler.post(json={"user": {}})
    assert result.error.type == "MessageRejected"
    assert "body.user.id is missing" in result.error.message
