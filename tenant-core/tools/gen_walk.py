#!/usr/bin/env python3
"""Generate tenant-core/src/walk/generated.rs: an exhaustive child walker over pg_query's node tree.

Why: pg_query's own `NodeEnum::nodes()` only descends into the node kinds it
cares about for its table/function summaries, so a tenancy analyzer built on it
would silently miss table references hidden in the skipped kinds. This script
reads pg_query's prost-generated `protobuf.rs` (the field types) and
`node_ref.rs` (which structs have a `NodeRef` variant, and under which name)
and emits one `match` arm per `NodeRef` variant, with no wildcard arm, so a
pg_query upgrade that adds a node kind fails to compile until this script is
re-run.

Usage:
    python3 tenant-core/tools/gen_walk.py [path/to/pg_query-X.Y.Z/src/protobuf.rs]

Without an argument the newest pg_query under ~/.cargo/registry/src is used.
The file is written whole (it carries an `@generated` header); the hand-written
part of the module, with its tests, is tenant-core/src/walk/mod.rs.

Besides the walker it emits `node_address` (a node's identity, for the
analyzer's coverage test) and `NODE_FIELDS` (every message-typed field of every
node kind: the fields that can hold an expression or a subquery, which that
test audits).
"""

import glob
import os
import re
import shutil
import subprocess
import sys

SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
OUTPUT = os.path.join(SCRIPT_DIR, os.pardir, "src", "walk", "generated.rs")


def version_key(path):
    """Sort key for .../pg_query-X.Y.Z/src/protobuf.rs by numeric version."""
    match = re.search(r"pg_query-(\d+)\.(\d+)\.(\d+)", path)
    return tuple(int(part) for part in match.groups()) if match else (0, 0, 0)


def locate_protobuf_rs():
    """Find protobuf.rs: the command-line argument, else the newest pg_query in the cargo registry."""
    if len(sys.argv) > 1:
        return sys.argv[1]
    cargo_home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
    candidates = glob.glob(os.path.join(cargo_home, "registry", "src", "*", "pg_query-*", "src", "protobuf.rs"))
    if not candidates:
        sys.exit("gen_walk.py: no pg_query sources under %s/registry/src; pass the path to protobuf.rs" % cargo_home)
    return max(candidates, key=version_key)


def strip_comments(text):
    """Drop // and /// comments (prost doc comments can contain braces and commas)."""
    return re.sub(r"//[^\n]*", "", text)


def block_after(text, start):
    """Return (body, end) of the {...} block whose opening brace is the first at or after `start`."""
    open_at = text.index("{", start)
    depth = 0
    for index in range(open_at, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : index], index + 1
    raise ValueError("unbalanced braces")


def split_top_level(body):
    """Split a struct/enum body at commas that are not inside <>, (), [] or {}."""
    items, depth, current = [], 0, []
    for char in body:
        if char in "<([{":
            depth += 1
        elif char in ">)]}":
            depth -= 1
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def normalize_type(rust_type):
    """Remove whitespace and the prost/core path prefixes so types read like `Option<Box<Node>>`."""
    rust_type = re.sub(r"\s+", "", rust_type)
    rust_type = re.sub(r",(?=[>)])", "", rust_type)  # rustfmt's trailing comma in wrapped generics
    for prefix in ("::core::option::", "::prost::alloc::boxed::", "::prost::alloc::vec::", "super::"):
        rust_type = rust_type.replace(prefix, "")
    return rust_type


def parse_items(body):
    """Yield (prost_attribute, name, type) for each field/variant in a prost struct or oneof enum body."""
    for item in split_top_level(body):
        attr_match = re.search(r"#\[prost\((.*?)\)\]", item, re.S)
        attribute = re.sub(r"\s+", " ", attr_match.group(1)) if attr_match else ""
        rest = item[attr_match.end() :] if attr_match else item
        rest = re.sub(r"#\[[^\]]*\]", "", rest).strip()
        field = re.match(r"pub\s+((?:r#)?\w+)\s*:\s*(.*)$", rest, re.S)
        if field:  # struct field
            yield attribute, field.group(1), normalize_type(field.group(2))
            continue
        variant = re.match(r"(\w+)\s*\((.*)\)$", rest, re.S)
        if variant:  # oneof enum variant
            yield attribute, variant.group(1), normalize_type(variant.group(2))
            continue
        raise ValueError("cannot parse prost item: %r" % item)


def parse_protobuf(text):
    """Return (structs, oneofs): name -> list of (attribute, field, type); oneofs keyed by `module::Enum`."""
    text = strip_comments(text)
    structs, oneofs = {}, {}
    for match in re.finditer(r"^pub struct (\w+)", text, re.M):
        body, _ = block_after(text, match.end())
        structs[match.group(1)] = list(parse_items(body))
    for module in re.finditer(r"^pub mod (\w+)", text, re.M):
        module_body, _ = block_after(text, module.end())
        for enum in re.finditer(r"pub enum (\w+)", module_body):
            enum_body, _ = block_after(module_body, enum.end())
            if "::prost::Oneof" in module_body[max(0, enum.start() - 200) : enum.start()]:
                oneofs["%s::%s" % (module.group(1), enum.group(1))] = list(parse_items(enum_body))
    return structs, oneofs


def parse_node_ref(text):
    """Return the NodeRef variants in declaration order as (variant, protobuf struct) pairs."""
    body, _ = block_after(text, text.index("pub enum NodeRef"))
    variants = re.findall(r"(\w+)\s*\(\s*&'a\s+protobuf::(\w+)\s*\)", body)
    if not variants:
        sys.exit("gen_walk.py: found no NodeRef variants in node_ref.rs")
    return variants


def unwrap_type(rust_type):
    """Split a message field type into (container, inner): container is 'option', 'vec' or 'plain'."""
    container = "plain"
    match = re.fullmatch(r"Option<(.*)>", rust_type)
    if match:
        container, rust_type = "option", match.group(1)
    else:
        match = re.fullmatch(r"Vec<(.*)>", rust_type)
        if match:
            container, rust_type = "vec", match.group(1)
    boxed = re.fullmatch(r"Box<(.*)>", rust_type)
    return container, (boxed.group(1) if boxed else rust_type)


class Generator:
    """Emits Rust statements that report each child node of a value to `f`."""

    def __init__(self, structs, oneofs, variant_of_struct):
        self.structs = structs
        self.oneofs = oneofs
        self.variant_of_struct = variant_of_struct
        self.inlined = set()  # non-NodeRef message types descended into inline

    def report(self, message_type, var, stack):
        """Statements reporting the message `var` (a `&T` expression): a node, or the nodes inside it."""
        if message_type == "Node":
            return ["report_node(%s, f);" % var]
        if message_type in self.variant_of_struct:
            return ["f(NodeRef::%s(%s));" % (self.variant_of_struct[message_type], var)]
        if message_type in self.oneofs:
            return self.oneof_body(message_type, var, stack)
        if message_type in self.structs:
            if message_type in stack:
                sys.exit("gen_walk.py: recursive non-node message %s cannot be inlined" % message_type)
            self.inlined.add(message_type)
            return self.struct_body(message_type, var, stack + [message_type])
        sys.exit("gen_walk.py: unknown message type %s" % message_type)

    def oneof_body(self, oneof, var, stack):
        lines = ["match %s {" % var]
        for _, variant, variant_type in self.oneofs[oneof]:
            _, inner = unwrap_type(variant_type)
            binding = "variant"
            body = self.report(inner, binding, stack)
            lines.append("    protobuf::%s::%s(%s) => {" % (oneof, variant, binding))
            lines += ["        " + line for line in body]
            lines.append("    }")
        lines.append("}")
        return lines

    def struct_body(self, struct, var, stack):
        """Statements reporting every message-typed field of `var: &struct`, in field order."""
        lines = []
        for attribute, field, field_type in self.structs[struct]:
            kind = attribute.split(",")[0].strip()
            if kind.startswith("oneof"):
                oneof = re.search(r'oneof\s*=\s*"([^"]+)"', attribute).group(1)
                binding = "oneof"
                lines.append("if let Some(%s) = &%s.%s {" % (binding, var, field))
                lines += ["    " + line for line in self.oneof_body(oneof, binding, stack)]
                lines.append("}")
                continue
            if kind != "message":
                continue  # scalars, strings, enumerations (i32), maps of strings
            container, inner = unwrap_type(field_type)
            boxed = "Box<" in field_type
            binding = "child"  # each field gets its own block, so one name suffices
            body = self.report(inner, binding, stack)
            if container == "vec":
                lines.append("for %s in &%s.%s {" % (binding, var, field))
            elif container == "option":
                accessor = "as_deref" if boxed else "as_ref"
                lines.append("if let Some(%s) = %s.%s.%s() {" % (binding, var, field, accessor))
            else:
                lines.append("{")
                lines.append("    let %s = &%s%s.%s;" % (binding, "*" if boxed else "", var, field))
            lines += ["    " + line for line in body]
            lines.append("}")
        return lines


def generate(protobuf_path):
    src_dir = os.path.dirname(protobuf_path)
    with open(protobuf_path, encoding="utf-8") as handle:
        structs, oneofs = parse_protobuf(handle.read())
    with open(os.path.join(src_dir, "node_ref.rs"), encoding="utf-8") as handle:
        variants = parse_node_ref(handle.read())
    version_match = re.search(r"pg_query-(\d+\.\d+)(\.\d+)?", protobuf_path)
    version = version_match.group(1) + (version_match.group(2) or "") if version_match else "(unknown version)"

    variant_of_struct = {struct: variant for variant, struct in variants}
    generator = Generator(structs, oneofs, variant_of_struct)
    leaves, arms, fields, addresses = [], [], [], []
    for variant, struct in variants:
        message_fields = [
            field.removeprefix("r#")
            for attribute, field, _ in structs.get(struct, [])
            if attribute.split(",")[0].strip() in ("message",) or attribute.startswith("oneof")
        ]
        fields.append('    ("%s", &[%s]),' % (variant, ", ".join('"%s"' % f for f in message_fields)))
        addresses.append("        NodeRef::%s(n) => std::ptr::from_ref(n) as usize," % variant)
        if struct not in structs:
            sys.exit("gen_walk.py: NodeRef::%s names protobuf::%s, which protobuf.rs lacks" % (variant, struct))
        body = generator.struct_body(struct, "n", [struct])
        if not body:
            leaves.append(variant)
            continue
        arms.append("NodeRef::%s(n) => {" % variant)
        arms += ["    " + line for line in body]
        arms.append("}")
    leaf_arm = " | ".join("NodeRef::%s(_)" % variant for variant in leaves) + " => {}"

    out = []
    out.append("// @generated by `tenant-core/tools/gen_walk.py` from pg_query %s's `protobuf.rs`" % version)
    out.append("// and `node_ref.rs`. Do not edit: regenerate with")
    out.append("// `python3 tenant-core/tools/gen_walk.py` after upgrading pg_query.")
    out.append("")
    out.append("//! Exhaustive walk over pg_query's node tree.")
    out.append("//!")
    out.append("//! Why not `NodeEnum::nodes()`: pg_query only descends into the node kinds its")
    out.append("//! own table/function summary needs, so table references inside the kinds it")
    out.append("//! skips would escape the tenancy analysis. Here every message-typed field of")
    out.append("//! every node kind is visited; helper messages without a `NodeRef` variant")
    out.append("//! (and oneofs such as `a_const::Val`) are descended into inline so the nodes")
    out.append("//! inside them are still reported. The `match` has no wildcard arm on purpose:")
    out.append("//! a pg_query upgrade that adds a node kind must fail to compile until the")
    out.append("//! walker is regenerated.")
    if generator.inlined:
        out.append("//!")
        out.append("//! Messages descended into inline: %s." % ", ".join("`%s`" % name for name in sorted(generator.inlined)))
    out.append("")
    out.append("use pg_query::{NodeRef, protobuf};")
    out.append("")
    out.append("/// Calls `f` on every direct child node of `node`, in field order.")
    out.append("///")
    out.append("/// Field order is pg_query's protobuf order, which is not always the order")
    out.append("/// of the SQL text: a `SelectStmt`'s WITH clause, for one, comes after its")
    out.append("/// FROM and WHERE clauses.")
    out.append("///")
    out.append("/// Only direct children are reported; callers recurse themselves, which lets")
    out.append("/// them track scope (CTEs, subqueries) on the way down.")
    out.append("pub(crate) fn for_each_child<'a>(node: NodeRef<'a>, f: &mut dyn FnMut(NodeRef<'a>)) {")
    out.append("    match node {")
    out += ["        " + line for line in arms]
    out.append("        " + leaf_arm)
    out.append("    }")
    out.append("}")
    out.append("")
    out.append("/// Reports the node held by a `Node` wrapper; an empty wrapper (no oneof set) has no node.")
    out.append("fn report_node<'a>(node: &'a protobuf::Node, f: &mut dyn FnMut(NodeRef<'a>)) {")
    out.append("    if let Some(inner) = node.node.as_ref() {")
    out.append("        f(inner.to_ref());")
    out.append("    }")
    out.append("}")
    out.append("")
    out.append("/// The identity of a node: the address of its struct in the parse tree.")
    out.append("#[cfg(test)]")
    out.append("pub(crate) fn node_address(node: NodeRef<'_>) -> usize {")
    out.append("    match node {")
    out += addresses
    out.append("    }")
    out.append("}")
    out.append("")
    out.append("/// Every node kind (its `NodeRef` variant) with its message-typed fields:")
    out.append("/// the fields that can hold an expression, a subquery or another node.")
    out.append("#[cfg(test)]")
    out.append("pub(crate) const NODE_FIELDS: &[(&str, &[&str])] = &[")
    out += fields
    out.append("];")
    return "\n".join(out) + "\n", len(variants), len(leaves)


def main():
    protobuf_path = locate_protobuf_rs()
    generated, variant_count, leaf_count = generate(protobuf_path)
    output = os.path.normpath(OUTPUT)
    with open(output, "w", encoding="utf-8") as handle:
        handle.write(generated)
    print("gen_walk.py: wrote %s from %s (%d NodeRef variants, %d leaves)" % (output, protobuf_path, variant_count, leaf_count))
    rustfmt = shutil.which("rustfmt")
    if rustfmt:
        subprocess.run([rustfmt, "--edition", workspace_edition(), output], check=True)
    else:
        print("gen_walk.py: rustfmt not found; run `rustfmt %s` to format it" % output)


def workspace_edition():
    """The workspace's Rust edition, so rustfmt orders imports the way `cargo fmt` would."""
    manifest = os.path.join(SCRIPT_DIR, os.pardir, os.pardir, "Cargo.toml")
    try:
        with open(manifest, encoding="utf-8") as handle:
            match = re.search(r'^edition\s*=\s*"(\d+)"', handle.read(), re.M)
    except OSError:
        match = None
    return match.group(1) if match else "2021"


if __name__ == "__main__":
    main()
