"""A YAML SafeLoader that refuses documents which are small on disk but huge or cyclic in memory.

PyYAML builds an alias as a shared reference, so `b: [*a, *a, ...]` nine levels deep ("billion
laughs") costs little to load, but everything that walks the result (the schema check, defaults,
`experiment.yaml`) visits the expansion: 9^9 nodes hang the tool. A recursive alias (`a: &a [*a]`)
makes a cyclic object that the same walkers recurse into until RecursionError.

`BoundedLoader` checks the composed node graph before constructing anything: it counts the nodes
the document expands to (aliases included) and stops at `MAX_NODES`, refuses an alias that refers
to a node enclosing it, and refuses nesting deeper than `MAX_DEPTH`. Each problem is a
`SpecError` of one line naming the source and the line of the offending node.
"""

from __future__ import annotations

import yaml

from model.errors import SpecError

__all__ = ["BoundedLoader", "MAX_NODES", "MAX_DEPTH", "MAX_SPEC_BYTES", "check_node_graph"]

#: nodes (scalars, lists, mappings; every alias counted as its full expansion) a document may expand
#: to: a whole spec with every key set is ~600; the limit leaves room for long lists (data sources)
MAX_NODES = 100_000
#: nesting levels of lists / mappings: a spec is at most ~6 deep
MAX_DEPTH = 64
#: size of a spec file: TAO's specs are ~3 KB; PyYAML composes ~1 MB/s, so a large file would stall
MAX_SPEC_BYTES = 1 << 20


def _where(node: yaml.Node) -> str:
    mark = node.start_mark
    return f"{mark.name}:{mark.line + 1}" if mark is not None else "spec"


def check_node_graph(root: yaml.Node) -> None:
    """SpecError unless `root` expands to at most MAX_NODES nodes, MAX_DEPTH deep, without cycles.

    The expansion size and height of each node are computed once (memoised by identity), so the
    check itself is linear in the document's size on disk, however large the expansion would be.
    """
    done: dict[int, tuple[int, int]] = {}  # id -> (expanded size, height)
    open_nodes: set[int] = set()  # the ancestors of the node being walked
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]  # iterative post-order: (node, children done?)
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            parts = [done[id(child)] for child in _children(node)]
            size = 1 + sum(s for s, _ in parts)
            height = 1 + max((h for _, h in parts), default=0)
            open_nodes.discard(key)
            done[key] = (size, height)
            if size > MAX_NODES:
                raise SpecError(f"{_where(root)}: the YAML expands to more than {MAX_NODES} values through its "
                                f"aliases (*name); a spec is small, write the values out instead")
            if height > MAX_DEPTH:
                raise SpecError(f"{_where(node)}: YAML nested deeper than {MAX_DEPTH} levels (through aliases "
                                f"or brackets); a spec is a few sections deep")
            continue
        if key in done:
            continue
        if isinstance(node, yaml.MappingNode):
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise SpecError(f"{_where(key_node)}: a mapping key must be a name, not a "
                                    f"{'list' if isinstance(key_node, yaml.SequenceNode) else 'mapping'}")
        open_nodes.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_nodes:
                raise SpecError(f"{_where(child)}: recursive YAML alias (a node that contains itself); "
                                f"a spec cannot refer to a section that encloses it")
            if id(child) not in done:
                stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


#: digits of an integer (Python refuses to convert more than 4300 with a ValueError traceback)
MAX_INT_DIGITS = 64


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader that runs `check_node_graph` on each document before constructing it, refuses
    integers of more than MAX_INT_DIGITS digits and `!!binary` values (no spec key takes bytes)."""

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:  # noqa: D102
        digits = sum(ch.isalnum() for ch in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise SpecError(f"{_where(node)}: an integer of {digits} digits; numbers in a spec have at most "
                            f"{MAX_INT_DIGITS}")
        return super().construct_yaml_int(node)

    def construct_yaml_binary(self, node: yaml.ScalarNode) -> bytes:  # noqa: D102
        raise SpecError(f"{_where(node)}: a !!binary value; spec values are numbers, strings, lists and mappings")

    def get_single_data(self):  # noqa: D102 - PyYAML's entry point for yaml.load
        try:
            node = self.get_single_node()
        except RecursionError:  # the composer recurses per nesting level
            raise SpecError(f"{self.name}: YAML nested too deeply; a spec is a few sections deep") from None
        if node is None:
            return None
        check_node_graph(node)
        return self.construct_document(node)


BoundedLoader.add_constructor("tag:yaml.org,2002:int", BoundedLoader.construct_yaml_int)
BoundedLoader.add_constructor("tag:yaml.org,2002:binary", BoundedLoader.construct_yaml_binary)
