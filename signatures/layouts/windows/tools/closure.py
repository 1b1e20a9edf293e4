"""Pick the types a pack ships, and compare two sources type by type.

closure(): every root type is shipped with all its members; every type a
shipped type embeds *by value* is shipped with all its members too (so every
leaf member of _EPROCESS, e.g. Pcb.Header.Type or Vm.WorkingSetSize, is
decodable). A type reached only through a pointer is shipped as an opaque
stub: right kind and size, no members.

compare(): walks two models over the shipped types and reports every
difference of size, member set, member offset or member shape. Anonymous
nested types (pdbparse names them __unnamed_NNNN, Volatility 3's pdbconv
__anonymous_NNNN, so names never agree) are compared by content.
"""

def _refs(ty, by_value=True):
    """Yield (name, by_value) for user types a type descriptor refers to."""
    k = ty["kind"]
    if k in ("struct", "union", "class"):
        yield ty["name"], by_value
    elif k == "pointer":
        yield from _refs(ty["subtype"], False)
    elif k == "array":
        yield from _refs(ty["subtype"], by_value)


def _enum_refs(ty):
    k = ty["kind"]
    if k == "enum":
        yield ty["name"]
    elif k in ("pointer", "array"):
        yield from _enum_refs(ty["subtype"])
    elif k == "bitfield":
        yield from _enum_refs(ty["type"])


def _base_refs(ty):
    k = ty["kind"]
    if k == "base":
        yield ty["name"]
    elif k in ("pointer", "array"):
        yield from _base_refs(ty["subtype"])
    elif k == "bitfield":
        yield from _base_refs(ty["type"])


def closure(model, roots):
    ut = model["user_types"]
    full, stubs, missing = [], set(), [r for r in roots if r not in ut]
    todo = [r for r in roots if r in ut]
    seen = set(todo)
    while todo:
        name = todo.pop(0)
        full.append(name)
        for f in ut[name]["fields"].values():
            for ref, by_value in _refs(f["type"]):
                if by_value and ref not in seen:
                    seen.add(ref)
                    todo.append(ref)
                elif not by_value:
                    stubs.add(ref)
    stubs -= set(full)
    return full, sorted(stubs), missing


def used_enums_and_bases(model, full):
    enums, bases = set(), set()
    for name in full:
        for f in model["user_types"][name]["fields"].values():
            enums.update(_enum_refs(f["type"]))
            bases.update(_base_refs(f["type"]))
    for e in enums:
        bases.add(model["enums"][e]["base"])
    return sorted(enums), bases


def _anon(name):
    return name.startswith("__")


def compare(a, b, names, label_a="A", label_b="B"):
    """Differences between models a and b for the given type names.

    Returns (diffs, notes). notes are differences of representation only,
    which the two PDB converters are known to make on identical input:
    pdbparse writes a function pointer as void*, a signed CHAR as
    'unsigned char', and keeps one name per enumeration value."""
    diffs, notes, done = [], [], set()

    def shape_eq(ta, tb, where):
        if ta["kind"] != tb["kind"]:
            # a union recorded as a struct (or the reverse) is a kind
            # difference only; the members are compared all the same.
            if {ta["kind"], tb["kind"]} <= {"struct", "union"}:
                diffs.append(f"{where}: kind {ta['kind']} in {label_a}, {tb['kind']} in {label_b}")
            else:
                diffs.append(f"{where}: {ta} in {label_a}, {tb} in {label_b}")
                return
        k = ta["kind"]
        if k == "base":
            if {ta["name"], tb["name"]} == {"char", "unsigned char"}:
                notes.append(f"{where}: char sign ({ta['name']} in {label_a}, {tb['name']} in {label_b})")
            elif {ta["name"], tb["name"]} == {"unsigned int", "unsigned long"}:
                # both 4-byte unsigned in the Microsoft ABI
                notes.append(f"{where}: {ta['name']} in {label_a}, {tb['name']} in {label_b} (same type)")
            elif ta["name"] != tb["name"]:
                diffs.append(f"{where}: base {ta['name']} in {label_a}, {tb['name']} in {label_b}")
        elif k == "bitfield":
            if (ta["bit_position"], ta["bit_length"]) != (tb["bit_position"], tb["bit_length"]):
                diffs.append(f"{where}: bits {ta['bit_position']}+{ta['bit_length']} in {label_a}, "
                             f"{tb['bit_position']}+{tb['bit_length']} in {label_b}")
            shape_eq(ta["type"], tb["type"], where)
        elif k == "array":
            if ta["count"] != tb["count"]:
                diffs.append(f"{where}: count {ta['count']} in {label_a}, {tb['count']} in {label_b}")
            shape_eq(ta["subtype"], tb["subtype"], where + "[]")
        elif k == "pointer":
            sa, sb = ta["subtype"], tb["subtype"]
            if sa["kind"] in ("struct", "union") and sb["kind"] in ("struct", "union"):
                if not (_anon(sa["name"]) and _anon(sb["name"])) and sa["name"] != sb["name"]:
                    diffs.append(f"{where}: points to {sa['name']} in {label_a}, {sb['name']} in {label_b}")
            elif {sa["kind"], sb.get("name", sb["kind"])} == {"function", "void"} or \
                    {sb["kind"], sa.get("name", sa["kind"])} == {"function", "void"}:
                notes.append(f"{where}: function pointer written as void*")
            elif sa["kind"] == sb["kind"] == "base" and {sa["name"], sb["name"]} == {"char", "unsigned char"}:
                notes.append(f"{where}: pointee char sign")
            elif sa["kind"] != sb["kind"] or sa.get("name") != sb.get("name"):
                # pdbparse turns pointees it cannot resolve into void
                diffs.append(f"{where}: points to {sa} in {label_a}, {sb} in {label_b}")
        elif k == "enum":
            ea, eb = a["enums"][ta["name"]], b["enums"][tb["name"]]
            if ea["size"] != eb["size"] or set(ea["constants"].values()) != set(eb["constants"].values()):
                diffs.append(f"{where}: enum {ta['name']} differs from {tb['name']}")
            elif ea["constants"] != eb["constants"]:
                notes.append(f"{where}: enum {ta['name']} / {tb['name']}: same values, "
                             f"names differ (one name per value kept)")
        elif k in ("struct", "union"):
            na, nb = ta["name"], tb["name"]
            if _anon(na) and _anon(nb):
                type_eq(na, nb, where)
            elif na != nb:
                diffs.append(f"{where}: type {na} in {label_a}, {nb} in {label_b}")
            else:
                type_eq(na, nb, na)

    def type_eq(na, nb, where):
        if (na, nb) in done:
            return
        done.add((na, nb))
        xa, xb = a["user_types"].get(na), b["user_types"].get(nb)
        if xa is None or xb is None:
            diffs.append(f"{where}: type {na if xa is None else nb} missing in "
                         f"{label_a if xa is None else label_b}")
            return
        if xa["size"] != xb["size"]:
            diffs.append(f"{where}: size {xa['size']:#x} in {label_a}, {xb['size']:#x} in {label_b}")
        fa, fb = xa["fields"], xb["fields"]
        for m in sorted(set(fa) | set(fb)):
            w = f"{where}.{m}"
            if m not in fa:
                diffs.append(f"{w}: only in {label_b} (at {fb[m]['offset']:#x})")
            elif m not in fb:
                diffs.append(f"{w}: only in {label_a} (at {fa[m]['offset']:#x})")
            else:
                if fa[m]["offset"] != fb[m]["offset"]:
                    diffs.append(f"{w}: offset {fa[m]['offset']:#x} in {label_a}, "
                                 f"{fb[m]['offset']:#x} in {label_b}")
                shape_eq(fa[m]["type"], fb[m]["type"], w)

    for n in names:
        if not _anon(n):      # anonymous types are reached through their parent
            type_eq(n, n, n)
    return diffs, notes
