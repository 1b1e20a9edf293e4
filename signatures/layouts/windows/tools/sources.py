"""Readers for the public, PDB-derived layout sources used by build_packs.py.

Both readers return the same in-memory model, which is already shaped like
Volatility 3's Intermediate Symbol Format (ISF, schema 6.x):

    {"user_types": {name: {"kind", "size", "fields": {member: {"offset", "type"}}}},
     "enums": {name: {"size", "base", "constants"}},
     "base_types": {name: {...}}}

* read_vol2_vtypes(): Volatility 2 overlay data files
  (volatility/plugins/overlays/windows/*_vtypes.py). Those files are a single
  Python dict literal produced by pdbparse from Microsoft's PDBs. We never
  import or execute them: the literal is parsed with `ast` and evaluated by a
  tiny evaluator that accepts only dict/list/str/int literals and `dict(...)`.
* read_isf(): a Volatility 3 ISF JSON document (optionally xz-compressed).

This file is our own code; only the data it reads comes from those projects.
"""
import ast
import hashlib
import json
import lzma
import subprocess

# Volatility 3's conventional base-type table (names as pdbconv emits them).
# Sizes are the Microsoft C ABI sizes on x86 and x64 (LLP64 on x64: long is
# 4 bytes); only the pointer size differs between the two architectures.
_BASE = {
    "char": (1, "char", True),
    "unsigned char": (1, "char", False),
    "short": (2, "int", True),
    "unsigned short": (2, "int", False),
    "wchar": (2, "int", True),
    "int": (4, "int", True),
    "unsigned int": (4, "int", False),
    "long": (4, "int", True),
    "unsigned long": (4, "int", False),
    "long long": (8, "int", True),
    "unsigned long long": (8, "int", False),
    "float": (4, "float", True),
    "f32": (4, "float", True),
    "double": (8, "float", True),
    "void": (0, "void", True),
}


def base_types(pointer_size, names):
    out = {}
    for n in sorted(set(names) | {"pointer"}):
        if n == "pointer":
            out[n] = {"endian": "little", "kind": "int", "signed": False, "size": pointer_size}
            continue
        size, kind, signed = _BASE[n]
        out[n] = {"endian": "little", "kind": kind, "signed": signed, "size": size}
    return out


def git_show(git_dir, commit, path):
    return subprocess.run(
        ["git", "--git-dir", git_dir, "show", f"{commit}:{path}"],
        check=True, capture_output=True).stdout


# ---------------------------------------------------------------- vol2 vtypes

def _literal(node):
    """Evaluate the restricted literal grammar of a vtypes file."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Dict):
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_literal(node.operand)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "dict" and not node.args):
        return {kw.arg: _literal(kw.value) for kw in node.keywords}
    raise ValueError(f"unexpected syntax in vtypes data at line {node.lineno}")


def _enum_name(target, choices, oracle_enums):
    """vtypes enumerations carry no name; recover it from an ISF of a sibling
    build when the constant set is identical, else derive a stable one."""
    consts = {name: value for value, name in choices.items()}
    for name, e in (oracle_enums or {}).items():
        if e["constants"] == consts:
            return name
    digest = hashlib.sha1(json.dumps(sorted(consts.items())).encode()).hexdigest()[:8]
    return f"__enum_{digest}"


def read_vol2_vtypes(text, pointer_size, kind_oracle=None):
    """kind_oracle: an ISF model of a sibling build used only to tell unions
    from structs and to name enumerations (vtypes lose both)."""
    tree = ast.parse(text)
    assign = tree.body[0]
    if not (isinstance(assign, ast.Assign) and isinstance(assign.value, ast.Dict)):
        raise ValueError("vtypes file does not start with `name = {...}`")
    raw = _literal(assign.value)
    enums = {}
    used_bases = set()

    def conv(t):
        head = t[0]
        if head in ("pointer", "pointer64"):
            target = t[1]
            if target[0] not in raw and target[0] not in _BASE and target[0] not in (
                    "pointer", "pointer64", "array", "BitField", "Enumeration"):
                # pdbparse names a pointee it has no definition for (a type
                # the PDB only forward-declares); it is opaque: void.
                used_bases.add("void")
                return {"kind": "pointer", "subtype": {"kind": "base", "name": "void"}}
            return {"kind": "pointer", "subtype": conv(target)}
        if head == "array":
            return {"kind": "array", "count": t[1], "subtype": conv(t[2])}
        if head == "BitField":
            a = t[1]
            native = a["native_type"]
            used_bases.add(native)
            return {"kind": "bitfield", "bit_position": a["start_bit"],
                    "bit_length": a["end_bit"] - a["start_bit"],
                    "type": {"kind": "base", "name": native}}
        if head == "Enumeration":
            a = t[1]
            name = _enum_name(a["target"], a["choices"], kind_oracle and kind_oracle["enums"])
            used_bases.add(a["target"])
            enums[name] = {"base": a["target"], "size": _BASE[a["target"]][0],
                           "constants": {v: k for k, v in a["choices"].items()}}
            return {"kind": "enum", "name": name}
        if head in _BASE:
            used_bases.add(head)
            return {"kind": "base", "name": head}
        if head in raw:
            return {"kind": "struct", "name": head}   # kind fixed up below
        raise ValueError(f"unknown vtypes type {t!r}")

    user_types = {}
    for name, (size, members) in raw.items():
        fields = {m: {"offset": off, "type": conv(t)} for m, (off, t) in members.items()}
        user_types[name] = {"kind": "struct", "size": size, "fields": fields}
    _fix_kinds(user_types, kind_oracle)
    return {"user_types": user_types, "enums": enums,
            "base_types": base_types(pointer_size, used_bases)}


def _storage_units(fields):
    """Members with bitfields that share one storage unit counted once."""
    units = set()
    for f in fields.values():
        t = f["type"]
        units.add((f["offset"], "bits") if t["kind"] == "bitfield" else (f["offset"], id(f)))
    return units


def _fix_kinds(user_types, oracle):
    """Tell unions from structs. A named type takes its kind from the oracle
    (an ISF of a sibling build produced by Volatility 3's pdbconv, which keeps
    it); otherwise a type whose two or more storage units all start at offset
    0 is a union (no struct can place two members at the same offset)."""
    for name, t in user_types.items():
        o = oracle and oracle["user_types"].get(name)
        if o is not None and not name.startswith("__"):
            t["kind"] = o["kind"]
            continue
        units = _storage_units(t["fields"])
        if len(units) >= 2 and all(off == 0 for off, _ in units):
            t["kind"] = "union"
    # Every reference to a user type carries that type's kind.
    def walk(ty):
        if ty["kind"] in ("struct", "union"):
            ty["kind"] = user_types[ty["name"]]["kind"]
        elif ty["kind"] in ("pointer", "array"):
            walk(ty["subtype"])
    for t in user_types.values():
        for f in t["fields"].values():
            walk(f["type"])


# ----------------------------------------------------------------------- ISF

def read_isf(data):
    if data[:6] == b"\xfd7zXZ\x00":
        data = lzma.decompress(data)
    return json.loads(data)
