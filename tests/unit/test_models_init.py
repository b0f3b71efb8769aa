"""The value types: `fast_frozen_init`'s dataclasses (their own signature, defaults and freezing) and the Structs."""

import dataclasses
import inspect
from typing import Any

import msgspec.structs
import pytest

from frumious.models import DistFile, ListingEntry, Project, StoredFile, fast_frozen_init, replace
from frumious.record.db import ProjectRow
from frumious.runreport import Kind, Outcome

FAST = [DistFile, Project, StoredFile]


def _reference(cls: type) -> Any:
    """The same fields as a plain frozen dataclass (its generated ``__init__``)."""
    fields = [(f.name, f.type, dataclasses.field(default=f.default, default_factory=f.default_factory))
              for f in dataclasses.fields(cls)]  # fmt: skip
    return dataclasses.make_dataclass(f"Plain{cls.__name__}", fields, frozen=True, slots=True)


@pytest.mark.parametrize("cls", FAST)
def test_the_signature_is_the_dataclasses(cls: type) -> None:
    ours, theirs = inspect.signature(cls).parameters, inspect.signature(_reference(cls)).parameters
    assert list(ours) == list(theirs)
    for name, param in ours.items():
        assert param.kind == theirs[name].kind
        # A default_factory field: a marker of its own, the factory called when it is left out.
        if theirs[name].default is not inspect.Parameter.empty and repr(theirs[name].default) != "<factory>":
            assert param.default == theirs[name].default


ARGS: dict[type, tuple[Any, ...]] = {
    DistFile: ("a-1.tar.gz", "https://h/a-1.tar.gz", 3, {"sha256": "00"}, "1"),
    Project: ("a", 5, {}),
    StoredFile: ("web/packages/a", "a", "1", 3, "sha256", "00", 1.5),
}


@pytest.mark.parametrize("cls", FAST)
def test_values_defaults_and_freezing_are_the_dataclasses(cls: type) -> None:
    args = ARGS[cls]
    ours, theirs = cls(*args), _reference(cls)(*args)
    names = [f.name for f in dataclasses.fields(cls)]
    assert [getattr(ours, n) for n in names] == [getattr(theirs, n) for n in names]
    assert cls(*args) == ours
    by_name = cls(**{n: getattr(ours, n) for n in names})
    assert by_name == ours
    first = dataclasses.fields(cls)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(ours, first, "x")
    assert getattr(replace(ours, **{first: "b"}), first) == "b"
    with pytest.raises(TypeError):
        cls(*args[:-1]) if len(args) > 1 else cls()
    with pytest.raises(TypeError, match="unexpected keyword"):
        cls(*args, bogus=1)


def test_a_default_factory_makes_a_new_value_each_time() -> None:
    one, two = DistFile(*ARGS[DistFile]), DistFile(*ARGS[DistFile])
    assert one.fields == {} and one.fields is not two.fields
    assert Project("a", 1, {}).info == {} and Project("a", 1, {}).info is not Project("a", 1, {}).info
    given = {"comment_text": ""}
    assert DistFile(*ARGS[DistFile], fields=given).fields is given


def test_a_class_with_an_init_false_field_is_refused() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Odd:
        a: int
        b: int = dataclasses.field(default=0, init=False)

    with pytest.raises(TypeError, match="only plain fields"):
        fast_frozen_init(Odd)


def test_a_class_with_a_post_init_is_refused() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            if self.a < 0:
                raise ValueError("negative")

    with pytest.raises(TypeError, match="__post_init__"):
        fast_frozen_init(Checked)


STRUCTS: dict[type, tuple[Any, ...]] = {
    ListingEntry: ("a", 5),
    ProjectRow: ("a", "A", 5),
    Outcome: ("a", Kind.SYNCED),
}


@pytest.mark.parametrize("cls", list(STRUCTS))
def test_the_struct_values_are_frozen_compared_by_value_and_replaced(cls: type) -> None:
    """The value types that are ``msgspec.Struct``s keep what they had as frozen dataclasses."""
    args = STRUCTS[cls]
    value = cls(*args)
    assert value == cls(*args) and hash(value) == hash(cls(*args))
    assert len({value, cls(*args)}) == 1
    first = msgspec.structs.fields(cls)[0].name
    with pytest.raises(AttributeError):
        setattr(value, first, "x")
    changed = replace(value, **{first: "b"})
    assert getattr(changed, first) == "b" and changed != value and getattr(value, first) == args[0]
    assert repr(value).startswith(f"{cls.__name__}({first}=")
