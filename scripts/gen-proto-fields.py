#!/usr/bin/env python3
"""Generates control/api/protobuf_fields.cpp, the field table the protobuf request decoder uses.

Usage: scripts/gen-proto-fields.py [GO_BINARY] > control/api/protobuf_fields.cpp

The facts come from the protobuf descriptors that k8s.io/api and k8s.io/apimachinery register
in every Go client built with them (GO_BINARY defaults to the kubectl on PATH): the gzipped
FileDescriptorProto of each generated.proto. They are the compiled form of the struct tags in
staging/src/k8s.io/api/<group>/<version>/types.go (`protobuf:"bytes,N,opt,name=x"`), plus the
gogoproto options go-to-protobuf records: nullable=false marks a Go field that is not a
pointer, which the encoder therefore always writes, even at its zero value.

What the descriptors do not say is which embedded Go structs are `json:",inline"`; INLINE below
lists them (checked against types.go), and the script fails when it meets a field that looks
embedded but is in neither list, so a new one cannot slip through as a nested object.
"""
import shutil
import sys
import zlib

# apiVersion -> protobuf package of the kinds k8c serves.
PACKAGES = {
    "v1": "k8s.io.api.core.v1",
    "apps/v1": "k8s.io.api.apps.v1",
    "batch/v1": "k8s.io.api.batch.v1",
    "networking.k8s.io/v1": "k8s.io.api.networking.v1",
    "discovery.k8s.io/v1": "k8s.io.api.discovery.v1",
    "coordination.k8s.io/v1": "k8s.io.api.coordination.v1",
}
ROOTS = {
    "v1": ["Namespace", "Node", "Pod", "Service", "Endpoints", "ConfigMap", "Secret",
           "PersistentVolume", "PersistentVolumeClaim", "Event", "ServiceAccount"],
    "apps/v1": ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "ControllerRevision"],
    "batch/v1": ["Job", "CronJob"],
    "networking.k8s.io/v1": ["Ingress", "IngressClass"],
    "discovery.k8s.io/v1": ["EndpointSlice"],
    "coordination.k8s.io/v1": ["Lease"],
}

# Embedded structs whose fields JSON merges into the parent (json:",inline" in types.go).
INLINE = {
    ("k8s.io.api.core.v1.Volume", "volumeSource"),
    ("k8s.io.api.core.v1.PersistentVolumeSpec", "persistentVolumeSource"),
    ("k8s.io.api.core.v1.Probe", "handler"),
    ("k8s.io.api.core.v1.EphemeralContainer", "ephemeralContainerCommon"),
    ("k8s.io.api.networking.v1.IngressRule", "ingressRuleValue"),
} | {("k8s.io.api.core.v1." + m, "localObjectReference") for m in (
    "ConfigMapVolumeSource", "SecretProjection", "ConfigMapProjection", "ConfigMapEnvSource",
    "SecretEnvSource", "ConfigMapKeySelector", "SecretKeySelector")}
# Fields named after their struct type that are ordinary nested objects, not embedded.
NOT_INLINE = {
    ("k8s.io.api.core.v1.WeightedPodAffinityTerm", "podAffinityTerm"),
}

# Messages with their own JSON form; the decoder converts them instead of walking fields.
SPECIAL = {
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time": "time",
    "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime": "micro_time",
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1": "raw_json",
    "k8s.io.apimachinery.pkg.runtime.RawExtension": "raw_json",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "int_or_string",
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "quantity",
}

# The scalar types k8s.io/api uses; the decoder handles exactly these (see PKind).
SCALARS = {3: "int64", 5: "int32", 8: "boolean", 9: "string", 12: "bytes"}
NULLABLE, CUSTOMNAME = 65001, 65004


def varint(b, i):
    r = s = 0
    while True:
        x = b[i]
        i += 1
        r |= (x & 0x7F) << s
        s += 7
        if x < 0x80:
            return r, i


def fields(b):
    i, out = 0, []
    while i < len(b):
        key, i = varint(b, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(b, i)
        elif wire == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif wire == 1:
            v, i = b[i:i + 8], i + 8
        elif wire == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        out.append((num, v))
    return out


def descriptors(binary):
    """Every gzipped FileDescriptorProto in the binary, by file name."""
    data = open(binary, "rb").read()
    files, i = {}, 0
    while (i := data.find(b"\x1f\x8b\x08", i)) >= 0:
        try:
            out = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[i:i + 1 << 20])
            f = fields(out)
            name = next(v for k, v in f if k == 1).decode()
            if name.endswith(".proto"):
                files.setdefault(name, f)
        except Exception:  # not a descriptor: any other gzip stream or a false magic
            pass
        i += 1
    return files


def messages(files):
    """Full message name -> list of (name, number, label, type, type_name, options)."""
    out, map_entries = {}, set()

    def walk(prefix, msg):
        m = fields(msg)
        name = prefix + "." + next(v for k, v in m if k == 1).decode()
        fl = []
        for k, v in m:
            if k == 2:
                f = dict()
                for fk, fv in fields(v):
                    f[fk] = fv
                opts = {ok: ov for ok, ov in fields(f.get(8, b""))}
                fl.append((f[1].decode(), f[3], f.get(4, 1), f[5],
                           f.get(6, b"").decode().lstrip("."), opts))
            elif k == 3:
                walk(name, v)
            elif k == 7 and any(ok == 7 and ov for ok, ov in fields(v)):
                map_entries.add(name)
        out[name] = fl

    for f in files.values():
        pkg = next(v for k, v in f if k == 2).decode()
        for k, v in f:
            if k == 4:
                walk(pkg, v)
    return out, map_entries


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else shutil.which("kubectl")
    msgs, map_entries = messages(descriptors(binary))
    order, index = [], {}

    def visit(name):
        if name in index or name in SPECIAL:
            return
        if name.endswith(".Duration"):
            sys.exit(f"{name} is reachable: teach the decoder its JSON form")
        if name not in msgs:
            sys.exit(f"message {name} not found in {binary}")
        index[name] = len(order)
        order.append(name)
        for _, _, _, typ, tname, _ in msgs[name]:
            if typ == 11:
                if tname in map_entries:
                    for _, _, _, vt, vn, _ in msgs[tname]:
                        if vt == 11:
                            visit(vn)
                else:
                    visit(tname)

    roots = []
    for api_version, kinds in ROOTS.items():
        for kind in kinds:
            full = PACKAGES[api_version] + "." + kind
            visit(full)
            roots.append((api_version, kind, full))

    def kind_of(typ, tname):
        if typ == 11:
            return SPECIAL.get(tname, "message")
        if typ not in SCALARS:
            sys.exit(f"protobuf type {typ} is not handled by control/api/protobuf.cpp")
        return SCALARS[typ]

    rows, unclassified = [], []
    for name in order:
        entries = []
        for fname, num, label, typ, tname, opts in sorted(msgs[name], key=lambda f: f[1]):
            flags, ref, kind = [], -1, None
            if typ == 11 and tname in map_entries:
                key, value = sorted(msgs[tname], key=lambda f: f[1])
                if key[3] != 9:
                    sys.exit(f"{name}.{fname}: map key is not a string")
                flags.append("kMap")
                kind = kind_of(value[3], value[4])
                if kind == "message":
                    ref = index[value[4]]
            else:
                kind = kind_of(typ, tname)
                if kind == "message":
                    ref = index[tname]
                if label == 3:
                    flags.append("kRepeated")
            if opts.get(NULLABLE, 1) != 0 and label != 3:
                flags.append("kPointer")
            short = tname.rsplit(".", 1)[-1]
            # go-to-protobuf names an embedded field after its type and never makes it nullable.
            looks_embedded = (typ == 11 and opts.get(CUSTOMNAME, b"").decode() == short
                              and "kPointer" not in flags and fname not in ("metadata",))
            if (name, fname) in INLINE:
                flags.append("kInline")
            elif looks_embedded and (name, fname) not in NOT_INLINE:
                unclassified.append(f"{name}.{fname} ({short})")
            entries.append(f'{{{num}, "{fname}", PKind::{kind}, '
                           f'{"|".join(flags) or 0}, {ref}}}')
        rows.append((name, entries))

    if unclassified:
        sys.exit("fields that look like embedded structs; add each to INLINE or NOT_INLINE after "
                 "checking its json tag in types.go:\n  " + "\n  ".join(unclassified))
    print("// Generated by scripts/gen-proto-fields.py from the k8s.io/api protobuf descriptors;")
    print("// do not edit. Field numbers, JSON names and wire types of every message reachable")
    print("// from the kinds k8c serves.")
    print('#include "control/api/protobuf.h"')
    print()
    print("namespace k8c::api::proto {")
    print()
    print("namespace {")
    print()
    for i, (name, entries) in enumerate(rows):
        print(f"// {name}")
        print(f"constexpr PField f{i}[] = {{")
        for e in entries:
            print(f"    {e},")
        if not entries:
            print("    {0, nullptr, PKind::string, 0, -1},")
        print("};")
    print()
    print("constexpr PMessage kMessages[] = {")
    for i, (name, entries) in enumerate(rows):
        print(f'    {{"{name}", f{i}, {len(entries)}}},')
    print("};")
    print()
    print("constexpr PRoot kRoots[] = {")
    for api_version, kind, full in roots:
        print(f'    {{"{api_version}", "{kind}", {index[full]}}},')
    print("};")
    print()
    print("}  // namespace")
    print()
    print("std::span<const PMessage> messages() { return kMessages; }")
    print("std::span<const PRoot> roots() { return kRoots; }")
    print()
    print("}  // namespace k8c::api::proto")


if __name__ == "__main__":
    main()
