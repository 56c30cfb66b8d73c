#!/usr/bin/env python3
"""Compares two mounted trees the way a clone must match its golden: paths, content (SHA-256), modes,
numeric owners, mtimes (ns), xattrs (POSIX ACLs included, as system.posix_acl_*), hard-link counts, symlink
targets, device numbers, and whether sparse files stay sparse.
Usage: treecmp.py GOLDEN CLONE [SKIP ...] [--changed PATH ...]   exit 0 when identical, 1 otherwise.
SKIP paths are left out; --changed paths (changed on purpose, e.g. by fix-ups) are left out too, and the
directories holding them are compared without their mtimes."""
import hashlib, os, stat, sys

def walk(root, skip, loose_dirs=()):
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            rel = os.path.relpath(p, root)
            if any(rel == s or rel.startswith(s + "/") for s in skip):
                continue
            st = os.lstat(p)
            xattrs = {k: os.getxattr(p, k, follow_symlinks=False) for k in os.listxattr(p, follow_symlinks=False)}
            e = dict(mode=oct(st.st_mode), uid=st.st_uid, gid=st.st_gid, mtime=st.st_mtime_ns, xattrs=xattrs)
            if rel in loose_dirs:
                del e["mtime"]
            if not stat.S_ISDIR(st.st_mode):
                e["nlink"] = st.st_nlink
            if stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
                e["sha256"] = h.hexdigest()
                e["sparse"] = st.st_size > (1 << 20) and st.st_blocks * 512 < st.st_size // 2
            if stat.S_ISLNK(st.st_mode):
                e["target"] = os.readlink(p)
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                e["rdev"] = st.st_rdev
            out[rel] = e
    return out

def main():
    golden, clone, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    changed = rest[rest.index("--changed") + 1:] if "--changed" in rest else []
    skip = (rest[: rest.index("--changed")] if "--changed" in rest else rest) + changed
    loose = {os.path.dirname(c) for c in changed}
    while "" in loose:
        loose.discard("")
    loose |= {p for c in changed for p in [os.path.dirname(os.path.dirname(c))] if p}
    a, b = walk(golden, skip, loose), walk(clone, skip, loose)
    diffs = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    for k in diffs[:20]:
        print("DIFF", k, "golden:", a.get(k), "clone:", b.get(k))
    print(f"treecmp: {len(a)} entries in the golden, {len(b)} in the clone, {len(diffs)} differences")
    sys.exit(1 if diffs else 0)

main()
