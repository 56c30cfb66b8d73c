def _same_len(lo, hi):
    """Regex for integers lo..hi, both with the same number of digits (as strings)."""
    if lo == hi:
        return lo
    if len(lo) == 1:
        return f"[{lo}-{hi}]" if lo != hi else lo
    # common prefix
    i = 0
    while i < len(lo) and lo[i] == hi[i]:
        i += 1
    if i > 0:
        return lo[:i] + _group(_same_len(lo[i:], hi[i:]))
    n = len(lo) - 1
    parts = []
    a, b = int(lo[0]), int(hi[0])
    rest_lo, rest_hi = lo[1:], hi[1:]
    # first digit a with rest from rest_lo to 99..9
    if rest_lo == "0" * n:
        start = a
    else:
        parts.append(str(a) + _group(_same_len(rest_lo, "9" * n)))
        start = a + 1
    if rest_hi == "9" * n:
        end = b
    else:
        end = b - 1
    if start <= end:
        d = str(start) if start == end else f"[{start}-{end}]"
        parts.append(d + "[0-9]" + (f"{{{n}}}" if n > 1 else ""))
    if rest_hi != "9" * n:
        parts.append(str(b) + _group(_same_len("0" * n, rest_hi)))
    return "|".join(parts)

def _group(r):
    return r if ("|" not in r) else f"({r})"

def range_re(lo, hi):
    """Alternation matching the decimal integers lo..hi (no leading zeros)."""
    parts = []
    while lo <= hi:
        top = min(hi, 10 ** len(str(lo)) - 1)
        parts.append(_same_len(str(lo), str(top)))
        lo = top + 1
    return "|".join(parts)

if __name__ == "__main__":
    import re, random
    for lo, hi in [(1, 1), (0, 9), (1, 86400), (100, 3600000), (1000, 86400000), (17, 4321), (1, 168), (2, 24), (1000, 604800000), (5, 5), (9, 10), (99, 100)]:
        r = re.compile(f"^0*({range_re(lo, hi)})$")
        tests = list(range(max(0, lo - 50), lo + 50)) + list(range(max(0, hi - 50), hi + 50)) + [random.randint(0, hi * 2) for _ in range(20000)]
        for n in tests:
            assert bool(r.match(str(n))) == (lo <= n <= hi), (lo, hi, n)
            assert bool(r.match("00" + str(n))) == (lo <= n <= hi), (lo, hi, n)
    print("ok", range_re(1000, 86400000))
