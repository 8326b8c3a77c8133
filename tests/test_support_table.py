"""The README's support table is generated from the rule tables and must not go stale."""
from pathlib import Path

from wlbridge import support

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_support_table_is_up_to_date():
    text = README.read_text(encoding="utf-8")
    block = text[text.index(support.BEGIN) + len(support.BEGIN):text.index(support.END)]
    assert block.strip() == support.render().strip(), "run: python -m wlbridge.support --update README.md"


def test_every_activation_and_op_is_listed():
    from wlbridge.ops import ACTIVATIONS, OPS

    rendered = support.render()
    for name in [*ACTIVATIONS, *OPS]:
        assert f"| `{name}` |" in rendered
