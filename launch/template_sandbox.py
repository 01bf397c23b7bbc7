"""A jinja2 sandbox that bounds the work one queue template can make the server do.

Queue config templates come from users and render at every enqueue, so a template must not
be able to take the server's memory or CPU. `{{ 'a' * 10**8 }}`, `'a'|center(10**9)` or
`'x'.ljust(10**9)` are refused before they allocate anything: every operation that can make
text or repeat work is estimated first and charged to a per-render `Budget` of bytes of text
made and of steps (loop iterations, calls, filter calls, items created). Templates cannot
load other templates (`import`, `include`, `extends`): there is nothing to load them from.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.compiler import CodeGenerator, Frame, operators
from jinja2.filters import FILTERS, make_attrgetter
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.tests import TESTS
from jinja2.utils import Namespace
from jinja2.visitor import NodeTransformer
from markupsafe import soft_str

# What the budget allows beyond the rendered config itself: intermediate values count too.
WORK_FACTOR = 4
DEFAULT_MAX_BYTES = 1_000_000
DEFAULT_MAX_STEPS = 200_000
# Looking through this much text costs about as much as one step of template code...
SCAN_BYTES_PER_STEP = 1024
# ...except for filters that work through text in Python, a few characters per step,
SLOW_TEXT_FILTERS = {"title", "wordwrap", "wordcount", "striptags", "urlencode", "capitalize"}
SLOW_SCAN_BYTES_PER_STEP = 4
# ...and for filters that go through a string one character at a time.
ITEM_FILTERS = {
    "list", "sort", "unique", "map", "select", "reject", "selectattr", "rejectattr",
    "groupby", "min", "max", "sum", "dictsort", "items",
}  # fmt: skip
# Python prints integers of up to 4,300 digits; bigger ones only cost CPU to make.
MAX_INT_BITS = 14_300

# Tags that load other templates; a queue template stands alone.
FORBIDDEN_TAGS: dict[type[nodes.Node], str] = {
    nodes.Import: "import",
    nodes.FromImport: "from ... import",
    nodes.Include: "include",
    nodes.Extends: "extends",
}
# Filters whose output size a parameter controls, or that add nothing to config templates
# (HTML helpers, randomness) are left out; the rest are wrapped to charge the budget.
DROPPED_FILTERS = {"batch", "slice", "pprint", "random", "urlize", "xmlattr"}
# How much longer than its input a filter's output can be (escaping, JSON, URL-quoting).
EXPANSION = {"e": 6, "escape": 6, "forceescape": 6, "tojson": 6, "urlencode": 12, "string": 4}
MAX_JSON_INDENT = 16
# Methods a template may call on plain values: none of them can make a value much larger
# than its inputs (`replace` and the splits are estimated before they run).
_STR_METHODS = frozenset({
    "capitalize", "casefold", "count", "endswith", "find", "index", "isalnum", "isalpha",
    "isascii", "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric", "isspace",
    "istitle", "isupper", "lower", "lstrip", "partition", "removeprefix", "removesuffix",
    "replace", "rfind", "rindex", "rpartition", "rsplit", "rstrip", "split", "splitlines",
    "startswith", "strip", "swapcase", "title", "upper",
})  # fmt: skip
SAFE_METHODS: dict[type, frozenset[str]] = {
    str: _STR_METHODS,
    dict: frozenset({"get", "items", "keys", "values"}),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
}
# A %-format's widths and precisions: `%10s`, `%(name)-5.2f`, `%*d`.
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


class TemplateLimitError(ValueError):
    """Rendering would pass one of the render limits; the message names it and the fix."""


class TemplateTooLarge(TemplateLimitError):
    """Rendering would make more text than the size limit allows."""


class ForbiddenTemplate(ValueError):
    """A template uses a tag queue templates do not support; the message names it."""


@dataclass(frozen=True)
class RenderLimits:
    """How much one item's config render may make: `max_bytes` is the server's value limit."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_steps: int = DEFAULT_MAX_STEPS

    @property
    def budget_bytes(self) -> int:
        """Bytes of text (intermediate values included) one render may make."""
        return WORK_FACTOR * self.max_bytes


def _count(value: Any) -> int:
    """How many items a container holds (0 for anything else)."""
    if isinstance(value, list | tuple | dict | set | frozenset | range):
        return len(value)
    return 0


def measure(value: Any, cap: int) -> tuple[int, int]:
    """About how many bytes `value` takes as text, and how many items it holds (nested).

    Stops once the bytes pass `cap`, so measuring costs at most about `cap` steps.
    """
    size = items = 0
    stack: list[Iterator[Any]] = [iter((value,))]
    while stack and size <= cap:
        try:
            item = next(stack[-1])
        except StopIteration:
            stack.pop()
            continue
        size += 2  # a separator or quotes
        items += 1
        if isinstance(item, str | bytes):
            size += len(item)
        elif isinstance(item, bool) or item is None:
            pass
        elif isinstance(item, int):
            size += item.bit_length() // 3
        elif isinstance(item, range):
            size += 8 * len(item)
        elif isinstance(item, dict):
            stack.append(itertools.chain.from_iterable(item.items()))
        elif isinstance(item, list | tuple | set | frozenset):
            stack.append(iter(item))
        elif isinstance(item, Namespace):
            # A namespace prints as its attributes.
            stack.append(iter((object.__getattribute__(item, "_Namespace__attrs"),)))
        else:
            size += 8
    return size, items


class Budget:
    """What one render has made and looked at so far, against its limits."""

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self.size = 0
        self.steps = 0

    @property
    def bytes_left(self) -> int:
        """Bytes of text the render may still make."""
        return self.limits.budget_bytes - self.size

    def check(self, size: int = 0, steps: int = 0) -> None:
        """Refuse work that would pass a limit, before it is done."""
        if self.size + size > self.limits.budget_bytes:
            raise TemplateTooLarge(
                f"rendering the template would make over {self.limits.budget_bytes:,} bytes "
                f"of text ({WORK_FACTOR} x the {self.limits.max_bytes:,}-byte value limit, "
                "RUNYARD_MAX_VALUE_BYTES): repeat less text, or pass large inputs as files"
            )
        if self.steps + steps > self.limits.max_steps:
            raise TemplateLimitError(
                f"rendering the template takes over {self.limits.max_steps:,} steps "
                "(loop iterations, calls, filters, items and kilobytes looked at): "
                "loop over fewer items and work on smaller values"
            )

    def charge(self, size: int = 0, steps: int = 0) -> None:
        """Count work done (or about to be), refusing it past a limit."""
        self.check(size, steps)
        self.size += size
        self.steps += steps

    def take(self, value: Any, factor: int = 1, bytes_per_step: int = SCAN_BYTES_PER_STEP) -> int:
        """Count looking at a value (its items and its text) and refuse to work on it if its
        text, times `factor`, would not fit in what is left; returns its size in bytes."""
        size, items = measure(value, cap=self.bytes_left // factor + 1)
        self.charge(steps=items + size // bytes_per_step)
        self.check(size=factor * size)
        return size

    def charge_value(self, value: Any, steps: int = 0) -> None:
        """Count a value just made: its text and its items."""
        size, items = measure(value, cap=self.bytes_left + 1)
        self.charge(size=size, steps=steps + items)


def _percent_size(fmt: str, args: Any, budget: Budget) -> int:
    """An upper bound of the length of `fmt % args`, counting widths and precisions."""
    size = len(fmt) + budget.take(args)
    for spec in _PERCENT_SPEC.finditer(fmt):
        for number in spec.groups():
            if number == "*":
                raise TemplateLimitError(
                    "'*' widths in %-formats are not supported in queue templates: "
                    "write the width as a number"
                )
            if number:
                size += int(number)
    return size


def _check_int_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise TemplateLimitError(
            f"integers in queue templates are limited to {MAX_INT_BITS:,} bits "
            "(about 4,300 digits); compute with smaller numbers"
        )


def _replace_size(text: str, old: str, new: str, count: int | None) -> int:
    """An upper bound of the length of `text.replace(old, new, count)`."""
    hits = text.count(old) if old else len(text) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(len(new) - len(old), 0)


def _split_items(text: str, sep: str | None) -> int:
    """An upper bound of how many pieces `text.split(sep)` makes."""
    return (text.count(sep) if sep else len(text) // 2) + 1


def _repeat_size(seq: Any, times: Any, budget: Budget) -> tuple[int, int] | None:
    """(bytes, items) of `seq * times` when that repeats a sequence, else None."""
    if isinstance(times, int) and isinstance(seq, str | list | tuple):
        n = max(times, 0)
        return budget.take(seq) * n, _count(seq) * n
    return None


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], at: int, name: str, default: Any) -> Any:
    """A filter's argument by position (0 is the filtered value) or by name."""
    return args[at] if len(args) > at else kwargs.get(name, default)


def _filter_size(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any], budget: Budget
) -> tuple[int, int]:
    """(bytes, items) a parameter-driven filter may make, estimated from its arguments.

    `args` start with the filtered value, as in the template: `value|replace(old, new)`.
    """
    value = args[0] if args else None
    if name == "center":
        width = _arg(args, kwargs, 1, "width", 80)
        return (width if isinstance(width, int) else 0), 0
    if name == "indent":
        width = _arg(args, kwargs, 1, "width", 4)
        pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        text = soft_str(value)
        return len(text) + (text.count("\n") + 1) * max(pad, 0), 0
    if name == "wordwrap":
        wrap = _arg(args, kwargs, 3, "wrapstring", None)
        return len(soft_str(value)) * (1 + len(wrap if isinstance(wrap, str) else "\n")), 0
    if name == "format":
        return _percent_size(soft_str(value), kwargs or args[1:], budget), 0
    if name == "replace":
        count = _arg(args, kwargs, 3, "count", None)
        old = soft_str(_arg(args, kwargs, 1, "old", ""))
        new = soft_str(_arg(args, kwargs, 2, "new", ""))
        count = count if isinstance(count, int) else None
        return _replace_size(soft_str(value), old, new, count), 0
    if name == "list":
        return 0, len(value) if isinstance(value, str) else 0
    if name == "sum" and not isinstance(_arg(args, kwargs, 2, "start", 0), int | float):
        raise ValueError("sum: start must be a number; sum adds numbers only in queue templates")
    if name == "tojson":
        indent = _arg(args, kwargs, 1, "indent", None)
        if isinstance(indent, int) and indent > MAX_JSON_INDENT:
            raise TemplateLimitError(
                f"tojson: indent {indent} is over the limit of {MAX_JSON_INDENT}; use a smaller one"
            )
    return 0, 0


_ESTIMATED = {"center", "indent", "wordwrap", "format", "replace", "list", "sum", "tojson"}


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles `a ~ b` into a budgeted join, and charges comparisons for what they scan."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def visit_Getitem(self, node: nodes.Getitem, frame: Frame) -> None:
        # jinja slices directly (`obj[1:]`); a slice copies, so it goes through the budget.
        if not isinstance(node.arg, nodes.Slice):
            super().visit_Getitem(node, frame)
            return
        self.write("environment.bounded_slice(")
        self.visit(node.node, frame)
        self.write(", slice(")
        for part in (node.arg.start, node.arg.stop, node.arg.step):
            if part is None:
                self.write("None")
            else:
                self.visit(part, frame)
            self.write(", ")
        self.write("))")

    def visit_Compare(self, node: nodes.Compare, frame: Frame) -> None:
        self.write("(environment.scanned(")
        self.visit(node.expr, frame)
        self.write(")")
        for operand in node.ops:
            self.write(f" {operators[operand.op]} environment.scanned(")
            self.visit(operand.expr, frame)
            self.write(")")
        self.write(")")


class _Bounds(NodeTransformer):
    """Makes every loop charge the budget, per iteration, for the text its body holds."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        literal = sum(
            len(data.data) for child in node.body for data in child.find_all(nodes.TemplateData)
        )
        node.iter = nodes.Filter(
            node.iter, "_loop", [nodes.Const(literal)], [], None, None, lineno=node.lineno
        )
        return node


def check_source(source: str) -> nodes.Template:
    """Parse a template and refuse the tags queue templates cannot use (ForbiddenTemplate)."""
    tree = _PARSER.parse(source)
    for node in tree.find_all(tuple(FORBIDDEN_TAGS)):
        tag = FORBIDDEN_TAGS[type(node)]
        raise ForbiddenTemplate(
            f"{{% {tag} %}} is not supported in queue templates: a queue template cannot "
            "load other templates; write the text into the config itself"
        )
    if any(loop.recursive for loop in tree.find_all(nodes.For)):
        raise ForbiddenTemplate(
            "recursive loops ({% for ... recursive %}) are not supported in queue templates; "
            "use nested loops"
        )
    return tree


# Parsing runs no template code: one environment with the same syntax serves every check.
_PARSER = ImmutableSandboxedEnvironment()


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """A sandbox whose every costly operation is charged to one render's `Budget`."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "+", "%", "**"})

    def __init__(self, limits: RenderLimits) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, finalize=self._finalize)
        self.budget = Budget(limits)
        self.globals.pop("lipsum", None)
        self.globals["range"] = self._range
        self.filters = {
            name: self._wrap(name, func)
            for name, func in FILTERS.items()
            if name not in DROPPED_FILTERS
        }
        self.filters["join"] = self._join
        self.filters["_loop"] = self._loop
        self.tests = {name: self._wrap(name, func) for name, func in TESTS.items()}

    def render(self, source: str, context: dict[str, Any]) -> str:
        """Render one template string within the budget (ForbiddenTemplate, TemplateLimitError)."""
        tree = _Bounds().visit(check_source(source))
        return self.from_string(tree).render(context)

    # -- hooks the sandbox calls --------------------------------------------------------

    def wrap_str_format(self, value: Any) -> None:
        """`str.format` is not offered: its widths (`{:>99999999}`) cannot be bounded cheaply."""
        return None

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        """Plain values expose only the methods in SAFE_METHODS."""
        if not super().is_safe_attribute(obj, attr, value):
            return False
        for kind, allowed in SAFE_METHODS.items():
            if isinstance(obj, kind):
                return attr in allowed
        return not isinstance(obj, int | float | bytes | set | frozenset)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Charge a step per call and its inputs, estimate string growth first, and the
        result after."""
        self.budget.charge(steps=1)
        for value in (*args, *kwargs.values()):
            self.budget.take(value)
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, str):
            self.budget.take(owner)
            name = getattr(obj, "__name__", "")
            if name == "replace" and len(args) >= 2:
                count = args[2] if len(args) > 2 else kwargs.get("count")
                size = _replace_size(
                    owner,
                    soft_str(args[0]),
                    soft_str(args[1]),
                    count if isinstance(count, int) else None,
                )
                self.budget.check(size=size)
            elif name in ("split", "rsplit", "splitlines"):
                sep = args[0] if args else kwargs.get("sep")
                text_sep = sep if isinstance(sep, str) else "\n" if name == "splitlines" else None
                self.budget.check(steps=_split_items(owner, text_sep))
        result = super().call(context, obj, *args, **kwargs)
        self.budget.charge_value(result)
        return result

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Estimate `*`, `+`, `%` and `**` before computing them."""
        budget = self.budget
        budget.charge(steps=1)
        if operator == "*":
            repeat = _repeat_size(left, right, budget) or _repeat_size(right, left, budget)
            if repeat is not None:
                budget.check(size=repeat[0], steps=repeat[1])
            elif isinstance(left, int) and isinstance(right, int):
                _check_int_bits(left.bit_length() + right.bit_length())
        elif operator == "+" and isinstance(left, str | list | tuple):
            budget.check(
                size=budget.take(left) + budget.take(right), steps=_count(left) + _count(right)
            )
        elif operator == "%" and isinstance(left, str):
            budget.check(size=_percent_size(left, right, budget))
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
            _check_int_bits(right * left.bit_length() if abs(left) > 1 else 0)
        result = super().call_binop(context, operator, left, right)
        budget.charge_value(result)
        return result

    def getitem(self, obj: Any, argument: Any) -> Any:
        """Charge a step per lookup, and a slice for the copy it makes."""
        self.budget.charge(steps=1)
        result = super().getitem(obj, argument)
        if isinstance(argument, slice):
            self.budget.charge_value(result)
        return result

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Charge a step per attribute lookup."""
        self.budget.charge(steps=1)
        return super().getattr(obj, attribute)

    def _finalize(self, value: Any) -> Any:
        # Every `{{ ... }}` becomes text: count it before it is printed.
        self.budget.charge_value(value)
        return value

    # -- budgeted helpers ---------------------------------------------------------------

    def bounded_concat(self, pieces: tuple[Any, ...]) -> str:
        """`a ~ b ~ c`, refused before it would pass the budget."""
        for piece in pieces:
            self.budget.take(piece)
        text = "".join(soft_str(piece) for piece in pieces)
        self.budget.charge(size=len(text))
        return text

    def bounded_slice(self, obj: Any, part: slice) -> Any:
        """`obj[a:b:c]`, charged for the copy it makes."""
        self.budget.charge(steps=1)
        result = obj[part]
        self.budget.charge_value(result)
        return result

    def scanned(self, value: Any) -> Any:
        """A compared value, charged for the scan a comparison or `in` may make."""
        self.budget.take(value)
        return value

    def _range(self, *args: int) -> range:
        numbers = range(*args)
        self.budget.charge(steps=len(numbers))
        return numbers

    def _loop(self, iterable: Iterable[Any], literal: int) -> Iterator[Any]:
        for item in iterable:
            self.budget.charge(size=literal, steps=1)
            yield item

    def _join(self, value: Iterable[Any], d: str = "", attribute: str | int | None = None) -> str:
        items = map(make_attrgetter(self, attribute), value) if attribute is not None else value
        glue = soft_str(d)
        parts: list[str] = []
        for item in items:
            self.budget.take(item)
            text = soft_str(item)
            self.budget.charge(size=len(text) + (len(glue) if parts else 0), steps=1)
            parts.append(text)
        return glue.join(parts)

    def _wrap(self, name: str, func: Any) -> Callable[..., Any]:
        """A filter or test that charges its call, its inputs and its result, and
        estimates the parameter-driven ones first."""
        pass_arg = getattr(func, "jinja_pass_arg", None)
        skip = 1 if pass_arg is not None else 0
        estimated = name in _ESTIMATED
        factor = EXPANSION.get(name, 1)
        per_step = 1 if name in ITEM_FILTERS else SCAN_BYTES_PER_STEP
        if name in SLOW_TEXT_FILTERS:
            per_step = SLOW_SCAN_BYTES_PER_STEP

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            self.budget.charge(steps=1)
            if len(args) > skip:
                self.budget.take(args[skip], factor, per_step)
            for extra in (*args[skip + 1 :], *kwargs.values()):
                self.budget.take(extra)
            if estimated:
                size, steps = _filter_size(name, args[skip:], kwargs, self.budget)
                self.budget.check(size=size, steps=steps)
            result = func(*args, **kwargs)
            self.budget.charge_value(result)
            return result

        if pass_arg is not None:
            wrapped.jinja_pass_arg = pass_arg  # type: ignore[attr-defined]
        wrapped.__name__ = getattr(func, "__name__", name)
        return wrapped
