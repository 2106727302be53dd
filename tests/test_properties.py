from segfn import compact


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
