#!/usr/bin/env python3
"""Generates schemas/plan.schema.json (the plan format's published contract) on standard output:
    python3 schemas/generate.py > schemas/plan.schema.json
scripts/test checks that the committed schema is exactly what this prints."""
import json, sys
import os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rangere import range_re

SIZE = r"^[0-9]+(\.[0-9]+)?(B|KiB|MiB|GiB|TiB|kB|KB|MB|GB|TB)$"
PERCENT = r"^(0*100(\.0+)?|0*[1-9][0-9]?(\.[0-9]+)?|0+\.[0-9]*[1-9][0-9]*)%$"


def duration_re(lo_ms, hi_ms):
    """A duration pattern (500ms, 10s, 5m, 2h; leading zeros allowed) for lo_ms..hi_ms milliseconds."""
    alternatives = []
    for unit, factor in (("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)):
        lo, hi = -(-lo_ms // factor), hi_ms // factor
        if lo <= hi:
            alternatives.append(f"0*({range_re(lo, hi)}){unit}")
    return "^(" + "|".join(alternatives) + ")$"


DURATION_1S_24H = duration_re(1000, 86_400_000)
DURATION_100MS_1H = duration_re(100, 3_600_000)
DURATION_1S_168H = duration_re(1000, 604_800_000)
RATE = r"^[0-9]+(\.[0-9]+)?(bit|kbit|Mbit|Gbit)$"
MAC = r"^([0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}|[0-9a-fA-F]{2}(-[0-9a-fA-F]{2}){5})$"
O = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_BODY = rf"{O}\.{O}\.{O}\.{O}"
IPV4 = rf"^{IPV4_BODY}$"
IPV4_RANGE = rf"^{O}\.{O}\.{O}\.\[{O}-{O}\]$"
MCAST = rf"^(22[4-9]|23[0-9])\.{O}\.{O}\.{O}$"
H = r"[0-9a-fA-F]{1,4}"
IPV6 = ("^(" + "|".join([
    rf"({H}:){{7}}{H}",
    rf"({H}:){{1,7}}:",
    rf"({H}:){{1,6}}:{H}",
    rf"({H}:){{1,5}}(:{H}){{1,2}}",
    rf"({H}:){{1,4}}(:{H}){{1,3}}",
    rf"({H}:){{1,3}}(:{H}){{1,4}}",
    rf"({H}:){{1,2}}(:{H}){{1,5}}",
    rf"{H}:(:{H}){{1,6}}",
    rf":((:{H}){{1,7}}|:)",
]) + ")$")
GUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
MBR = r"^(0[xX])?([1-9a-fA-F]|0[1-9a-fA-F]|[1-9a-fA-F][0-9a-fA-F])$"
HOSTNAME = r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
NAME_RANGE = r"^([A-Za-z0-9][A-Za-z0-9-]*)?\[[0-9]{1,9}-[0-9]{1,9}\]([A-Za-z0-9-]*[A-Za-z0-9])?$"
ID = r"^[a-z][a-z0-9_-]{0,31}$"
PLAN_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
PREFIX = r"^([A-Za-z0-9][A-Za-z0-9-]{0,61})?$"
DEVICE = r"^/dev/[^\s]+$"
ABS = r"^/"
DISK_NAME = r"^[^| ]+$"
IFNAME = r"^[^/\s]{1,15}$"
CCNAME = r"^[a-z0-9_]{1,15}$"
MODULE = r"^[^/\s]+$"
MOUNT_OPTION = r"^[^,\s]+$"

# Scalars as kaplan types them: a text key wants a string (a plain 123 is an integer and is refused);
# argv-style lists (mkfs-options, mount-options, kernel-options, commands) take any scalar verbatim.
ARG_SCALAR = ["string", "integer", "number", "boolean"]


def d(title, description, **kw):
    s = {"title": title, "description": description}
    s.update(kw)
    return s


def ref(name, title, description, **kw):
    return d(title, description, **{"$ref": f"#/$defs/{name}"}, **kw)


def forbid(title, description):
    # A key that exists (listed in the object's properties) but is refused in this branch, even empty.
    return d(title, description, **{"not": {}})


def forbid_unless_null(title, description):
    # Refused in this branch unless written empty (`key:` is the same as leaving the key out).
    return d(title, description, type="null")


def present(*keys):
    # The keys are written with a value (`key:` alone, null, counts as absent).
    return {"required": list(keys), "properties": {
        k: {"title": f"{k} given", "description": f"{k} is written with a value.", "not": {"type": "null"}}
        for k in keys}}


def kind_is(kind):
    # Condition: the mapping's kind is `kind`.
    return {"required": ["kind"], "properties": {"kind": {
        "title": f"kind {kind}", "description": f"The kind is {kind}.", "const": kind}}}


def enum(title, description, values, default=None):
    kw = {"type": "string", "enum": values}
    if default is not None:
        kw["default"] = default
    return d(title, description, **kw)


def integer(title, description, lo=None, hi=None, default=None):
    kw = {"type": "integer"}
    if lo is not None:
        kw["minimum"] = lo
    if hi is not None:
        kw["maximum"] = hi
    if default is not None:
        kw["default"] = default
    return d(title, description, **kw)


def boolean(title, description, default=None):
    kw = {"type": "boolean"}
    if default is not None:
        kw["default"] = default
    return d(title, description, **kw)


def string(title, description, **kw):
    return d(title, description, type="string", **kw)


def nullable(s):
    """An optional key may be written empty (null): kaplan reads that as the key left out."""
    s = dict(s)
    if "anyOf" in s:
        s["anyOf"] = [{"type": "null"}] + s["anyOf"]
    elif "$ref" in s:
        inner = {"$ref": s.pop("$ref")}
        s["anyOf"] = [{"type": "null"}, inner]
    elif "type" in s:
        t = s["type"]
        s["type"] = (t if isinstance(t, list) else [t]) + ["null"]
        if "enum" in s:
            s["enum"] = s["enum"] + [None]
    else:
        raise ValueError(s)
    return s


def obj(title, description, properties, required=(), **kw):
    props = {k: (v if k in required else nullable(v)) for k, v in properties.items()}
    s = d(title, description, type="object", additionalProperties=False, properties=props)
    if required:
        s["required"] = list(required)
    s.update(kw)
    return s


defs = {
    "size": d("Size", "A number with a unit: B, KiB, MiB, GiB, TiB (powers of 1024) or kB/KB, MB, GB, TB "
              "(powers of 1000); decimals allowed (1.5GiB). A bare number is refused: is 500 bytes or MiB?",
              type="string", pattern=SIZE, examples=["512MiB", "1.5GiB", "20GB"]),
    "rate": d("Rate", "Bits per second: a number with bit, kbit, Mbit or Gbit (800kbit, 100Mbit, 1Gbit), "
              "64kbit–400Gbit.", type="string", pattern=RATE, examples=["100Mbit", "1Gbit"]),
    "device-path": d("Device path", "A block device path under /dev (/dev/sda, /dev/nvme0n1, /dev/disk/by-id/…).",
                     type="string", pattern=DEVICE, examples=["/dev/sda", "/dev/nvme0n1"]),
    "absolute-path": d("Absolute path", "A path starting with /.", type="string", pattern=ABS),
    "file-path": d("File path", "A file path, absolute or relative; not empty.", type="string", minLength=1),
    "port": d("Port", "A port number, 1–65535.", type="integer", minimum=1, maximum=65535),
    "argument": d("Argument", "One argv element. Any scalar is taken verbatim as written (0600 stays "
                  "\"0600\"); an empty (null) entry is refused.", type=ARG_SCALAR),
    "arguments": d("Arguments", "A list of argv elements, each taken verbatim.", type="array",
                   items={"$ref": "#/$defs/argument"}),
}

size_spec = d("Partition size", "A size with a unit (512MiB, 1.5GiB; at least 1MiB), a share of the whole target "
              "disk (N%, 0 < N ≤ 100), or fill: what is left (of the disk, or of the extended partition for a "
              "logical one). Partitions start on 1 MiB boundaries.", anyOf=[
                  {"$ref": "#/$defs/size"},
                  {"title": "Percentage", "description": "A share of the whole target disk, 0 < N ≤ 100.",
                   "type": "string", "pattern": PERCENT},
                  {"title": "fill", "description": "What is left of the disk (or of the extended partition).",
                   "const": "fill"}],
              examples=["5000MiB", "30%", "fill"])

partition_type = d("Partition type", "linux, swap, extended, efi, bios-boot, lvm, raid; a raw MBR type byte in hex "
                   "(0x83, 8e; quote digits-only bytes: \"83\" — a plain 83 is a decimal number and is refused); or "
                   "a GPT type GUID.", anyOf=[
                       {"title": "Named type", "description": "A named partition type.", "type": "string",
                        "enum": ["linux", "swap", "extended", "efi", "bios-boot", "lvm", "raid"]},
                       {"title": "MBR type", "description": "A raw MBR type byte in hex, with or without 0x; not 00.",
                        "type": "string", "pattern": MBR},
                       {"title": "GPT type GUID", "description": "A GPT partition type GUID.",
                        "type": "string", "pattern": GUID}],
                   examples=["linux", "swap", "0x83", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"])

partition = obj("Partition", "One partition of the layout, and the filesystem and mountpoint it carries.", {
    "id": string("Partition id", "Unique id of the partition, used in step names (format[root]). "
                 "A lower-case letter, then lower-case letters, digits, _ or -; at most 32 characters.",
                 pattern=ID, examples=["root", "swap", "home"]),
    "type": partition_type,
    "size": size_spec,
    "filesystem": enum("Filesystem", "The filesystem made on the partition. Default: swap for type swap, vfat for "
                       "efi, else none.", ["ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "jfs", "swap", "none"]),
    "mount": ref("absolute-path", "Mountpoint", "Absolute, normalised mountpoint in the clone (no .., //, "
                 "trailing /). Only on a filesystem that holds files.", examples=["/", "/home"]),
    "logical": boolean("Logical", "A logical partition inside the extended one (dos only). Logicals follow the "
                       "extended partition.", False),
    "bootable": boolean("Bootable", "The dos boot flag (dos only).", False),
    "name": string("GPT partition name", "The GPT partition name, at most 36 characters (gpt only).", maxLength=36),
    "label": string("Filesystem label", "The filesystem label (ext2/3/4 ≤ 16 bytes, xfs ≤ 12, vfat ≤ 11, swap ≤ 15, "
                    "jfs ≤ 16, btrfs ≤ 255); not on filesystem none.", minLength=1),
    "mkfs-options": ref("arguments", "mkfs options", "Extra mkfs arguments, one argv element each "
                        "([-m, 1] for mkfs.ext4 -m 1).", default=[]),
    "mount-options": d("Mount options", "fstab mount options, one option each (no commas or spaces). Default: "
                       "[defaults].", type="array", default=["defaults"], items={
                           "title": "Mount option", "description": "One mount option, taken verbatim.",
                           "anyOf": [{"type": "string", "pattern": MOUNT_OPTION},
                                     {"type": ["integer", "number", "boolean"]}]}),
}, required=["id", "type", "size"])

golden = obj("Golden", "Where the golden's files come from: exactly one of disk (a live golden node) or image "
             "(a golden disk image file).", {
                 "disk": ref("device-path", "Golden disk", "A live golden node's disk (never written)."),
                 "root": ref("absolute-path", "Golden root", "Where the live golden tree is mounted (only with "
                             "disk).", default="/"),
                 "image": ref("file-path", "Golden image", "A golden disk image file, mounted read-only."),
             },
             oneOf=[dict(title="Live golden", description="A live golden node's disk.", **present("disk")),
                    dict(title="Golden image", description="A golden disk image file.", **present("image"))],
             allOf=[{"title": "root only with disk", "description": "golden.root applies to a live golden disk.",
                     "if": present("root"), "then": present("disk")}])

address = d("Node address", "The agent's IPv4 or IPv6 address; on a name range, an IPv4 range in the last octet "
            "(10.0.0.[11-50]) of the same length.", anyOf=[
                {"title": "IPv4", "description": "An IPv4 address.", "type": "string", "pattern": IPV4},
                {"title": "IPv6", "description": "An IPv6 address.", "type": "string", "pattern": IPV6},
                {"title": "IPv4 range", "description": "An IPv4 range in the last octet: 10.0.0.[11-50].",
                 "type": "string", "pattern": IPV4_RANGE}],
            examples=["10.0.0.11", "10.0.0.[11-50]", "fd00::11"])

node = obj("Node", "One node, or a range of nodes (node[01-16]). Its target is a disk (default nodes.disk) or an "
           "image file, not both.", {
               "name": d("Node name", "The node's host name (one label: letters, digits, inner -), or a name range "
                         "node[01-40] (zero padding of the first bound is kept).", anyOf=[
                             {"title": "Host name", "description": "One host name label.", "type": "string",
                              "pattern": HOSTNAME},
                             {"title": "Name range", "description": "prefix[FROM-TO]suffix.", "type": "string",
                              "pattern": NAME_RANGE}],
                         examples=["node01", "node[01-40]"]),
               "address": address,
               "mac": string("MAC address", "The node's MAC address, aa:bb:cc:dd:ee:ff or aa-bb-cc-dd-ee-ff (not on a "
                             "name range).", pattern=MAC),
               "disk": ref("device-path", "Target disk", "This node's target device. Default: nodes.disk."),
               "image": ref("file-path", "Target image", "This node's target is an image file (lab and local "
                            "runs); not with disk."),
               "disk-size": ref("size", "Disk size", "Declared size of this node's disk (at least 1MiB): the layout "
                                "must fit. Default: nodes.disk-size."),
           }, required=["name"],
           **{"not": dict(title="Not both disk and image", description="A node's target is a disk or an image.",
                          **present("disk", "image"))})

nodes = obj("Nodes", "The nodes: count (named PREFIX01…), an explicit list, or both (then they must agree).", {
    "count": integer("Node count", "That many nodes, named PREFIX01…; with list too, it must equal the list's "
                     "expanded length.", 1, 65536),
    "prefix": string("Name prefix", "Name prefix for count: the start of a host name label.", pattern=PREFIX,
                     default="node"),
    "disk": ref("device-path", "Target disk", "The target disk on every node (overridable per node).",
                default="/dev/sda"),
    "disk-size": ref("size", "Disk size", "Declared target disk size (at least 1MiB): the layout must fit."),
    "list": d("Node list", "Explicit nodes, at least one.", type="array", minItems=1, items=node),
}, anyOf=[dict(title="count", description="Nodes given by count.", **present("count")),
          dict(title="list", description="Nodes given by list.", **present("list"))])

CHAIN_ONLY = ["order", "congestion-control"]
MCAST_ONLY = ["group", "data-port", "interface", "max-rate", "ttl", "fec", "receiver-timeout"]

transport_props = {
    "kind": enum("Transport kind", "chain: pipelined, self-repairing TCP chain. multicast: reliable UDP multicast.",
                 ["chain", "multicast"]),
    "port": ref("port", "Port", "TCP port agents join on.", default=30764),
    "chunk-size": ref("size", "Chunk size", "Framed chunk size, 64KiB–64MiB.", default="1MiB"),
    "compression": enum("Compression", "Stream compression.", ["zstd", "none"], "zstd"),
    "join-timeout": string("Join timeout", "How long to wait for nodes to join, 1s–24h.", pattern=DURATION_1S_24H,
                           default="300s"),
    "order": enum("Chain order", "Chain only: order of the nodes in the chain.", ["address", "name", "listed"],
                  "address"),
    "congestion-control": string("Congestion control", "Chain only: the TCP congestion control of the data "
                                 "links (a name the nodes' kernels have: cubic, bbr, reno, …), or system for each "
                                 "kernel's default.", pattern=CCNAME, default="cubic", examples=["cubic", "system"]),
    "buffer": ref("size", "Buffer", "Chain: per-hop replay window; multicast: each receiver's reassembly window. 1MiB–4GiB.", default="64MiB"),
    "stall-timeout": string("Stall timeout", "Evict a node that holds the chain (or the multicast window) back this long, 1s–24h.",
                            pattern=DURATION_1S_24H, default="10s"),
    "group": string("Multicast group", "Multicast only, required: the IPv4 group in 224.0.0.0/4.", pattern=MCAST,
                    examples=["232.168.1.201"]),
    "data-port": ref("port", "Data port", "Multicast only: UDP data port, different from port.", default=30766),
    "interface": string("Interface", "Multicast only: the network interface (default: the route's); at most 15 "
                        "characters, no / or spaces.", pattern=IFNAME, examples=["eth0"]),
    "max-rate": ref("rate", "Maximum rate", "Multicast only: sender pacing (100Mbit, 1Gbit)."),
    "ttl": integer("TTL", "Multicast only: IP TTL of data datagrams, 1–255.", 1, 255, 1),
    "fec": obj("Forward error correction", "Multicast only: data source datagrams protected by parity repair "
               "datagrams per block.", {
                   "data": integer("FEC data", "Most source datagrams per block, 1–4096 (a chunk is cut into equal blocks; up to 254 a Cauchy Reed–Solomon code, data + parity ≤ 255; wider blocks a random GF(2^8) code).", 1, 4096),
                   "parity": integer("FEC parity", "Repair datagrams sent up front with every block, 0–128 (0: only on request).", 0, 128),
               }, required=["data", "parity"]),
    "receiver-timeout": string("Receiver timeout", "Multicast only: a receiver silent this long is dropped, "
                               "100ms–1h.", pattern=DURATION_100MS_1H, default="3s"),
}
transport = obj("Transport", "How the stream travels: kind chain (pipelined TCP chain) or multicast (reliable "
                "UDP multicast). Chain-only and multicast-only keys are refused for the other kind.",
                transport_props, required=["kind"], default={"kind": "chain"}, allOf=[
    {"if": kind_is("chain"),
     "then": {"properties": {k: forbid(f"{k} (multicast only)", f"transport.{k} is for kind: multicast only.")
                             for k in MCAST_ONLY}}},
    {"if": kind_is("multicast"),
     "then": {"required": ["group"],
              "properties": {k: forbid(f"{k} (chain only)", f"transport.{k} is for kind: chain only.")
                             for k in CHAIN_ONLY}}},
])
# group is never empty: required for multicast, refused (even empty) for chain.
transport["properties"]["group"] = transport_props["group"]

bootloader = obj("Bootloader", "The bootloader and initrd installed inside every clone.", {
    "kind": enum("Bootloader kind", "grub-bios (GRUB 2, BIOS; a bios-boot partition on gpt), grub-efi (GRUB 2, "
                 "UEFI; needs a mounted efi partition), extlinux, lilo (dos only), or none.",
                 ["grub-bios", "grub-efi", "extlinux", "lilo", "none"]),
    "removable": boolean("Removable", "grub-efi only: also install EFI/BOOT/BOOTX64.EFI.", False),
    "kernel-options": ref("arguments", "Kernel options", "Extra kernel arguments, one each.", default=[]),
    "initrd": obj("Initrd", "How the initrd is rebuilt.", {
        "rebuild": boolean("Rebuild", "Rebuild the initrd.", True),
        "modules": d("Modules", "Kernel modules forced into the initrd (the KA method's --with=).", type="array",
                     default=[], items={"title": "Module", "description": "A kernel module name.",
                                        "type": "string", "pattern": MODULE}),
        "tool": enum("Initrd tool", "auto: update-initramfs, then dracut, then mkinitrd, whichever the clone has.",
                     ["auto", "update-initramfs", "dracut", "mkinitrd"], "auto"),
    }),
}, required=["kind"], default={"kind": "none"}, allOf=[
    {"if": kind_is("grub-efi"),
     "else": {"properties": {"removable": forbid_unless_null(
         "removable (grub-efi only)", "bootloader.removable is for kind: grub-efi only.")}}}])

fixups = obj("Fix-ups", "What is adjusted inside every clone after the copy; each can be switched off.", {
    "fstab": enum("fstab", "Rewrite fstab by uuid, by label (every mounted partition and swap needs a label), or "
                  "keep it.", ["uuid", "label", "keep"], "uuid"),
    "hostname": enum("Hostname", "Write /etc/hostname and /etc/hosts from the node's name, or keep them.",
                     ["from-node", "keep"], "from-node"),
    "machine-id": enum("machine-id", "Reset /etc/machine-id so each clone gets its own, or keep it.",
                       ["reset", "keep"], "reset"),
    "ssh-host-keys": enum("SSH host keys", "Regenerate the SSH host keys, or keep the golden's.",
                          ["regenerate", "keep"], "regenerate"),
    "network": enum("Network", "Remove udev persistent-net rules and DHCP leases, or keep them.",
                    ["clean", "keep"], "clean"),
    "resume": enum("Resume", "Point resume= at the clone's swap, or keep it.", ["update", "keep"], "update"),
    "commands": d("Commands", "Commands run in the clone's chroot, each an argv list ([systemctl, enable, foo]); "
                  "never a shell string.", type="array", default=[], items={
                      "title": "Command", "description": "One argv list: the program, then its arguments, each "
                      "taken verbatim.", "type": "array", "minItems": 1,
                      "prefixItems": [{"title": "Program", "description": "The program to run; not empty.",
                                       "type": ARG_SCALAR, "minLength": 1}],
                      "items": {"$ref": "#/$defs/argument"}}),
})

security = obj("Security", "Session authentication.", {
    "key-file": ref("file-path", "Key file", "Pre-shared session key file; network transports refuse to run "
                    "without it."),
})

policy = obj("Policy", "Retries, timeouts and what counts as success.", {
    "retries": integer("Retries", "Retries of a failed step, 0–10.", 0, 10, 1),
    "min-success": d("Minimum successes", "Nodes that must end OK for exit 3 instead of 1: a count 1–65536, or a "
                     "share N% (0 < N ≤ 100).", default=1, anyOf=[
                         {"title": "Count", "description": "At least this many nodes.", "type": "integer",
                          "minimum": 1, "maximum": 65536},
                         {"title": "Share", "description": "At least this share of the nodes, rounded up.",
                          "type": "string", "pattern": PERCENT}]),
    "step-timeout": string("Step timeout", "The longest one step may run, 1s–168h.", pattern=DURATION_1S_168H,
                           default="1h"),
    "parallel": integer("Parallel", "Nodes worked on at once in a local apply, 1–256.", 1, 256, 4),
})

exclude = obj("Exclusions", "Disks and paths never touched or copied.", {
    "disks": d("Excluded disks", "Disk names (sdb) or paths (/dev/sdb) never written, on the golden or any node.",
               type="array", default=[], items={"title": "Disk", "description": "One disk name or /dev path (a "
                                                "list, not a regex: no | or spaces).",
                                                "type": "string", "pattern": DISK_NAME}),
    "paths": d("Excluded paths", "Absolute, normalised paths not copied; each is recreated empty with the golden's "
               "mode and owner. Not / itself.", type="array", default=[],
               items={"$ref": "#/$defs/absolute-path"}),
})

schema = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://kaplan.invalid/schemas/plan.schema.json",
    "title": "kaplan plan, format version 1",
    "description": "A kaplan deployment plan: the golden, the partition layout every node gets, the nodes, and "
                   "how the stream travels. See docs/plan-format.md. Scalars are typed as kaplan reads them: a "
                   "plain integer is an integer, a plain number with a point a number, true/false a boolean, "
                   "empty/~/null is null (an optional key written empty is the key left out), anything else and "
                   "every quoted scalar a string.",
    "type": "object",
    "additionalProperties": False,
    "required": ["version", "name", "golden", "table", "partitions", "nodes"],
    "properties": {
        "version": d("Format version", "The plan format version: 1.", type="integer", const=1),
        "name": string("Deployment name", "The deployment (session) name: a letter or digit, then letters, digits, "
                       ". _ -; at most 63 characters.", pattern=PLAN_NAME),
        "description": nullable(string("Description", "Free text for operators.")),
        "golden": golden,
        "table": enum("Partition table", "The partition table written on every node.", ["dos", "gpt"]),
        "partitions": d("Partitions", "The layout, in table order; at least one partition.", type="array",
                        minItems=1, items=partition),
        "exclude": nullable(exclude),
        "nodes": nodes,
        "transport": nullable(transport),
        "bootloader": nullable(bootloader),
        "fixups": nullable(fixups),
        "security": nullable(security),
        "policy": nullable(policy),
    },
    "$defs": defs,
}

json.dump(schema, sys.stdout, indent=2, ensure_ascii=False)
sys.stdout.write("\n")
