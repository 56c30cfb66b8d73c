#!/usr/bin/env python3
"""Writes the seed corpus (Tests/Fuzz/corpus) and the slow-input reproducers (Tests/Fuzz/regressions).

Run from anywhere: python3 Tests/Fuzz/make-corpus.py. The output is checked in; rerun after editing.
"""
import os, random
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
os.makedirs(out, exist_ok=True)
def w(name, data):
    if isinstance(data, str): data = data.encode()
    open(os.path.join(out, name), "wb").write(data)

chain = """version: 1
name: lab-chain
description: three lab nodes over a TCP chain
golden:
  disk: /dev/sda
table: gpt
partitions:
  - { id: esp, type: efi, size: 512MiB, filesystem: vfat, mount: /boot/efi }
  - { id: swap, type: swap, size: 2GiB }
  - { id: root, type: linux, size: fill, filesystem: ext4, mount: /, label: root }
exclude:
  disks: [sdb]
  paths: [/tmp, /var/cache/apt]
nodes:
  disk: /dev/sda
  disk-size: 100GiB
  list:
    - { name: "node[01-03]", address: "10.0.0.[11-13]" }
transport:
  kind: chain
  port: 30764
  chunk-size: 1MiB
  order: address
  buffer: 64MiB
  stall-timeout: 10s
bootloader:
  kind: grub-efi
  removable: true
  initrd: { rebuild: true, modules: [nvme, ahci], tool: auto }
fixups:
  fstab: uuid
  commands: [[systemctl, enable, sshd]]
security:
  key-file: /etc/kaplan/session.key
policy:
  retries: 1
  min-success: 90%
  step-timeout: 1h
  parallel: 4
"""
w("valid-chain-gpt.yaml", chain)

w("valid-minimal.yaml", """version: 1
name: minimal
golden: { disk: /dev/sda }
table: dos
partitions:
  - { id: root, type: linux, size: fill, filesystem: ext4, mount: / }
nodes: { count: 2 }
""")

w("valid-dos-extended-multicast.yaml", """# yaml-language-server: $schema=../schemas/plan.schema.json
version: 1
name: dos.multicast_lab-2
golden:
  disk: /dev/vda
  root: /mnt/golden
table: dos
partitions:
  - id: boot
    type: 0x83
    size: 512MiB
    filesystem: ext2
    mount: /boot
    label: boot
    bootable: true
  - { id: ext, type: extended, size: fill }
  - { id: swap, type: swap, size: 1.5GiB, logical: true, label: swap0 }
  - { id: root, type: "83", size: 60%, filesystem: xfs, mount: /, logical: true, label: rootfs }
  - { id: var, type: linux, size: fill, filesystem: btrfs, mount: /var, logical: true, label: var, mkfs-options: [-f], mount-options: [noatime, compress=zstd] }
nodes:
  count: 40
  prefix: rack1-
  disk: /dev/vda
  disk-size: 200GB
transport:
  kind: multicast
  group: 232.168.1.201
  port: 30764
  data-port: 30766
  interface: eth0
  max-rate: 1Gbit
  ttl: 1
  fec: { data: 32, parity: 4 }
  receiver-timeout: 3s
  compression: none
  join-timeout: 5m
bootloader:
  kind: lilo
  kernel-options: [console=ttyS0, quiet]
fixups:
  fstab: label
  hostname: from-node
  machine-id: reset
  ssh-host-keys: keep
  network: clean
  resume: update
security: { key-file: session.key }
policy: { retries: 0, min-success: 38, step-timeout: 30m, parallel: 8 }
""")

w("valid-image-grub-bios-gpt.yaml", """version: 1
name: image-lab
golden:
  image: golden.img
table: gpt
partitions:
  - { id: bios, type: bios-boot, size: 1MiB }
  - { id: root, type: 0FC63DAF-8483-4772-8E79-3D69D8477DE4, size: 3GiB, filesystem: ext4, mount: /, name: "Linux root" }
  - { id: data, type: lvm, size: fill, filesystem: none }
nodes:
  disk-size: 8GiB
  list:
    - { name: lab1, image: /var/tmp/lab1.img }
    - { name: lab2, image: /var/tmp/lab2.img, disk-size: 10GiB }
bootloader: { kind: grub-bios, initrd: { rebuild: false } }
fixups: { commands: [[systemctl, enable, kaplan-agent], [/bin/true]] }
""")

nodes = "".join(f"    - {{ name: n{i:03d}, address: 10.1.0.{i}, mac: \"52:54:00:00:00:{i:02x}\", disk: /dev/nvme0n1, disk-size: {100+i}GiB }}\n" for i in range(1, 9))
w("valid-explicit-node-list.yaml", f"""version: 1
name: explicit
golden: {{ disk: /dev/sda }}
table: gpt
partitions:
  - {{ id: esp, type: efi, size: 256MiB, mount: /boot/efi }}
  - {{ id: root, type: linux, size: fill, filesystem: ext4, mount: / }}
nodes:
  count: 9
  list:
{nodes}    - {{ name: "v6", address: "fe80::1", mac: AA-BB-CC-DD-EE-FF }}
transport: {{ kind: chain, order: listed, buffer: 128MiB, stall-timeout: 1m, join-timeout: 600s }}
bootloader: {{ kind: grub-efi }}
security: {{ key-file: /etc/kaplan.key }}
""")

w("valid-anchors-merge.yaml", """version: 1
name: merge-keys
golden: { disk: /dev/sda }
table: gpt
partitions:
  - &root { <<: &fs { filesystem: ext4, mount-options: [noatime] }, id: root, type: linux, size: 20GiB, mount: / }
  - { <<: [*fs, *root], id: home, size: fill, mount: /home }
nodes: &n { count: 3 }
""")

w("valid-bom.yaml", b"\xef\xbb\xbf" + open(os.path.join(out, "valid-minimal.yaml"), "rb").read())
w("valid-crlf.yaml", open(os.path.join(out, "valid-minimal.yaml")).read().replace("\n", "\r\n"))
w("valid-flow-json.yaml", '{"version": 1, "name": "json", "golden": {"disk": "/dev/sda"}, "table": "gpt", '
  '"partitions": [{"id": "root", "type": "linux", "size": "fill", "filesystem": "ext4", "mount": "/"}], '
  '"nodes": {"list": [{"name": "a1", "address": "192.168.0.1"}]}, "transport": {"kind": "chain"}}\n')
w("valid-document-markers.yaml", "%YAML 1.1\n%TAG !k! tag:kaplan.dev,2026:\n---\n" + open(os.path.join(out, "valid-minimal.yaml")).read() + "...\n")

# nasty inputs
w("empty.yaml", b"")
w("bom-only.yaml", b"\xef\xbb\xbf")
w("utf16-bom-plan.yaml", "\ufeffversion: 1\nname: x\n".encode("utf-16-le"))
w("whitespace-comment-only.yaml", "   \n# just a comment\n\t\n  # another\n")
rnd = random.Random(20261123)
w("binary-garbage.bin", bytes(rnd.randrange(256) for _ in range(512)))
w("binary-garbage-yamlish.bin", bytes(rnd.choice(b"{}[]:-,&*!|>'\"\n\t #%@`?\x00\xff\xc3") for _ in range(256)))
w("tabs-indent.yaml", "version: 1\nname: tabs\ngolden:\n\tdisk: /dev/sda\n")
w("tabs-in-values.yaml", "version:\t1\nname: \"a\tb\"\npartitions:\n  - id:\troot\n")
w("nul-bytes.yaml", b"version: 1\nname: nul\x00ls\n\x00\x00\x00\n")
w("invalid-utf8.yaml", b"version: 1\nname: \xc3\x28bad\ndescription: \xff\xfe \xe2\x82 \xf0\x28\x8c\xbc \xc0\xaf\ngolden: { disk: /dev/\xed\xa0\x80 }\n")
w("control-escapes.yaml", 'version: 1\nname: "\\0\\x01\\a\\e\\u2028\\U0010FFFF"\ndescription: "\\x1b[31mred\\x1b[0m \\N \\_ \\L \\P"\n')
w("escape-lone-surrogate.yaml", 'version: 1\nname: "\\ud800 lone surrogate"\n')
w("unterminated-double-quote.yaml", 'version: 1\nname: "never closed\ntable: gpt\n')
w("unterminated-single-quote.yaml", "version: 1\nname: 'never closed\n")
w("unterminated-flow-seq.yaml", "version: 1\npartitions: [ { id: root, type: linux\n")
w("unterminated-flow-map.yaml", "golden: { disk: /dev/sda, root: /\nnodes: { count: 3\n")
w("deep-nesting-seq.yaml", "[" * 2000 + "]" * 2000)
w("deep-nesting-map.yaml", "{a: " * 1500 + "}" * 1500)
w("deep-nesting-block.yaml", "".join(" " * i + f"k{i}:\n" for i in range(100)) + " " * 100 + "v\n")
w("deep-nesting-unclosed.yaml", "- " * 300 + "x\n" + "[" * 500)
w("depth-63-ok.yaml", "a: " + "[" * 62 + "1" + "]" * 62 + "\n")
# billion laughs: 9 levels x 9 aliases
lines = ['a0: &a0 "lol"']
for i in range(1, 10):
    lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i-1}"] * 9) + "]")
w("alias-bomb-9x9.yaml", "\n".join(lines) + "\n")
w("alias-bomb-in-plan.yaml", "version: 1\nname: bomb\n" + "\n".join(lines).replace("a0:", "description:") + "\nnodes: { list: [*a9] }\n")
w("merge-keys.yaml", """base: &a { id: root, type: linux }
more: &b { size: 1GiB, filesystem: ext4 }
partitions:
  - { <<: *a, size: fill }
  - { <<: [*a, *b], id: two }
  - { <<: *a, <<: *b }
  - { <<: scalar }
  - { <<: [1, [2]] }
  - { << : { << : *a } }
""")
w("undefined-alias.yaml", "version: 1\nname: *nothing\ngolden: *golden\n")
w("alias-before-anchor.yaml", "a: *x\nb: &x 1\n")
w("multiple-documents.yaml", open(os.path.join(out, "valid-minimal.yaml")).read() + "---\nversion: 1\n---\n")
w("long-scalar.yaml", "version: 1\nname: " + "n" * 4000 + "\ndescription: " + "x" * 4000 + "\n")
w("long-key.yaml", "v" + "e" * 3000 + "rsion: 1\n")
w("duplicate-keys.yaml", """version: 1
version: 1
name: a
name: b
golden: { disk: /dev/sda, disk: /dev/sdb }
partitions:
  - { id: root, id: root2, type: linux, size: fill }
nodes: { count: 1, count: 2 }
""")
w("huge-integers.yaml", """version: 99999999999999999999999
name: huge
golden: { disk: /dev/sda }
table: gpt
partitions:
  - { id: root, type: linux, size: 99999999999999999999999TiB, mount: / }
  - { id: big, type: linux, size: 18446744073709551616B }
  - { id: pct, type: linux, size: 99999999999999999999999% }
nodes: { count: 99999999999999999999999, disk-size: 1e308GiB }
transport: { kind: multicast, group: 239.0.0.1, port: 99999999999999999999999, ttl: -0, data-port: +30766, max-rate: 999999999999999Gbit, fec: { data: 00000000000000000000129, parity: 1 } }
policy: { retries: 9223372036854775808, min-success: 1e3%, step-timeout: 18446744073709551615h }
""")
w("negative-sizes.yaml", """version: -1
name: negative
golden: { disk: /dev/sda }
table: dos
partitions:
  - { id: a, type: linux, size: -1GiB }
  - { id: b, type: linux, size: -5 }
  - { id: c, type: linux, size: -0.5% }
  - { id: d, type: swap, size: "-10MiB" }
  - { id: e, type: linux, size: 0B }
nodes: { count: -3, disk-size: -100GiB }
transport: { kind: chain, port: -1, buffer: -64MiB, stall-timeout: -10s }
policy: { retries: -1, parallel: 0, min-success: -5% }
""")
w("leading-zero-integers.yaml", "version: 01\nname: zeros\ntransport: { kind: chain, port: 007 }\nnodes: { count: -00 }\n")
w("wrong-types.yaml", """version: "1"
name: [not, a, string]
golden: /dev/sda
table: { gpt: yes }
partitions: { id: root }
nodes:
  - count: 3
transport: { kind: chain, port: 3.0 }
bootloader: { kind: grub-efi, removable: yes }
fixups: { commands: "systemctl enable foo" }
policy: { parallel: "4", retries: true }
""")
w("unknown-keys-typos.yaml", """verison: 1
nmae: typo
golden: { disc: /dev/sda }
tabel: gtp
partitons:
  - { id: root, tpye: linux, szie: fill, filesytem: ext4 }
nodes: { cuont: 3, list_: [] }
transprot: { kind: chian }
boot_loader: { kind: grub }
""")
w("semantic-errors-dos.yaml", """version: 1
name: semantic
golden: { disk: /dev/sdb }
table: dos
exclude: { disks: [sdb, "sdc|sdd"], paths: [/, relative, /a/../b, //x/] }
partitions:
  - { id: root, type: linux, size: fill, filesystem: xfs, mount: /, label: this-label-is-too-long, name: gptname }
  - { id: efi, type: efi, size: 60%, filesystem: ext4 }
  - { id: l1, type: linux, size: 50%, logical: true }
  - { id: ext, type: extended, size: 1GiB, filesystem: ext4 }
  - { id: ext, type: extended, size: 1GiB }
  - { id: bb, type: bios-boot, size: 1MiB, mount: /boot }
  - { id: g, type: 0FC63DAF-8483-4772-8E79-3D69D8477DE4, size: 1MiB, mount: /boot }
nodes:
  disk: /dev/sdb
  disk-size: 2MiB
  list:
    - { name: a, address: 10.0.0.1, mac: "52:54:00:12:34:56" }
    - { name: A, address: 10.0.0.1, mac: "52:54:00:12:34:56" }
transport: { kind: multicast, group: 10.0.0.1, data-port: 30764 }
bootloader: { kind: grub-efi }
fixups: { fstab: label }
""")
w("name-ranges.yaml", """version: 1
name: ranges
golden: { disk: /dev/sda }
table: gpt
partitions: [ { id: root, type: linux, size: fill, filesystem: ext4, mount: / } ]
nodes:
  count: 5
  list:
    - { name: "n[10-01]" }
    - { name: "n[000-999999999]" }
    - { name: "n[1-3]", address: "10.0.0.[1-2]", mac: "aa:bb:cc:dd:ee:ff" }
    - { name: "n[1-3][4-5]" }
    - { name: "n]1", address: "10.0.0.[250-256]" }
    - { name: "-bad-" , address: "::1::2" }
    - { name: "x[01-02]y", address: "10.0.[1-2].3" }
    - { name: "z[1-2]", image: a.img, disk: /dev/sdb }
""")
w("tags.yaml", """version: !!int 1
name: !!str 123
description: !custom tagged
golden: !!map { disk: !!str /dev/sda }
table: !<tag:yaml.org,2002:str> gpt
partitions: !!seq [ { id: root, type: linux, size: !!binary R0lGODlh, bootable: !!bool true } ]
nodes: { count: !!float 3 }
""")
w("complex-keys.yaml", """? [a, b]
: c
? { x: 1 }
: d
&k key: &v value
*k : again
version: 1
""")
w("block-scalars.yaml", """version: 1
name: |
  multi
  line
description: >-2
    folded
   text
golden:
  disk: |+
    /dev/sda

table: >
  gpt
""")
w("nulls.yaml", "version: ~\nname: null\ngolden:\ntable: \"\"\npartitions: []\nnodes: {}\ntransport: { kind: }\n")
w("unicode-names.yaml", "version: 1\nname: \"n\u00e4me-\U0001F600\"\ndescription: \"\u202eRTL\u202c e\u0301 \\0 \\t\"\nnodes: { prefix: \"n\u00f6de\", count: 2 }\npartitions: [ { id: \"r\u00f6\u00f6t\", type: linux, size: fill, label: \"\U0001F600\U0001F600\U0001F600\U0001F600\U0001F600\" } ]\n")
w("root-scalar.yaml", "just a scalar\n")
w("root-sequence.yaml", "- version: 1\n- name: seq\n")
w("root-alias.yaml", "&r [*r]\n")
w("many-keys-flow.yaml", "{" + ", ".join(f"k{i}: {i}" for i in range(400)) + "}\n")
w("crlf-mixed-cr.yaml", b"version: 1\r\nname: cr\rgolden:\r\n  disk: /dev/sda\r\r\n")
w("bom-mid-file.yaml", b"version: 1\n\xef\xbb\xbfname: x\n")
w("percent-over-100.yaml", """version: 1
name: pct
golden: { disk: /dev/sda }
table: gpt
partitions:
  - { id: a, type: linux, size: 60%, filesystem: ext4, mount: / }
  - { id: b, type: linux, size: 50.5%, filesystem: ext4, mount: /b }
  - { id: c, type: swap, size: fill }
  - { id: d, type: linux, size: 100.0000001% }
nodes: { count: 1, disk-size: 1.5GiB }
""")

# Small versions of the slow-input findings (see Tests/Fuzz/README.md), so the fuzzer starts from those paths
# without each execution taking seconds.
w("flat-list-2000.yaml", "- 1\n" * 2000)
w("flat-mapping-1000.yaml", "".join(f"k{i}: v\n" for i in range(1000)))
valid_min = open(os.path.join(out, "valid-minimal.yaml")).read()
w("aliased-fill-partitions-300.yaml", valid_min.replace(
    "  - { id: root, type: linux, size: fill, filesystem: ext4, mount: / }\n",
    "  - &p { id: root, type: linux, size: fill, filesystem: ext4, mount: / }\n" + "  - *p\n" * 300))
w("aliased-extended-partitions-300.yaml", valid_min.replace(
    "  - { id: root, type: linux, size: fill, filesystem: ext4, mount: / }\n",
    "  - { id: root, type: linux, size: 1GiB, filesystem: ext4, mount: / }\n  - &e { id: ext, type: extended, size: 1MiB }\n" + "  - *e\n" * 300))
w("node-ranges-aliased.yaml", valid_min.replace("nodes: { count: 2 }\n",
    "nodes:\n  list:\n    - &r { name: \"n[001-300]\", address: \"10.0.0.[1-255]\" }\n    - *r\n    - *r\n"))

# Full-size reproducers of the slow-input findings: kept out of the corpus (each takes seconds to minutes, so
# libFuzzer would stop at its -timeout before fuzzing anything). Replay: kaplan check FILE, or kaplan-fuzz FILE.
reg = out  # the full-size reproducers live in the corpus since their fixes
os.makedirs(reg, exist_ok=True)
def r(name, data):
    open(os.path.join(reg, name), "w").write(data)
r("yaml-flat-list-100000.yaml", "- 1\n" * 100_000)
r("yaml-flat-mapping-20000.yaml", "".join(f"k{i}: 1\n" for i in range(20_000)))
chain = open(os.path.join(out, "valid-chain-gpt.yaml")).read()
head, tail = chain.split("partitions:\n")[0], "exclude:" + chain.split("exclude:")[1]
r("checker-aliased-fill-partitions-20000.yaml", head +
  "partitions:\n  - &p { id: root, type: linux, size: fill, filesystem: ext4, mount: / }\n" + "  - *p\n" * 20_000 + tail)
r("checker-aliased-extended-partitions-20000.yaml", head.replace("table: gpt", "table: dos") +
  "partitions:\n  - { id: root, type: linux, size: 1GiB, filesystem: ext4, mount: / }\n  - &e { id: ext, type: extended, size: 1MiB }\n" + "  - *e\n" * 20_000 + tail)
nodes_head, nodes_tail = chain.split("nodes:\n")[0], "transport:" + chain.split("transport:")[1]
r("decoder-node-ranges-40x65536.yaml", nodes_head + "nodes:\n  list:\n" + '    - { name: "n[1-65536]" }\n' * 40 + nodes_tail)
