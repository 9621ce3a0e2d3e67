#!/usr/bin/env python3
"""The configuration reference (the CONFIGURATION section of failoverd(8)) against the loader:
every key the loader accepts (the `const Keys k...Keys{...}` lists and the endpoint base keys in
lib/config/loader.cc) must be named in bold there, and every bold snake_case word there must be a
key the loader accepts. So the reference cannot drift from the code in either direction.

usage: config_reference_test.py REPO_ROOT
"""
import re
import sys


def loader_keys(source):
    keys = set()
    for body in re.findall(r"Keys\s+k\w+\{([^}]*)\}", source):
        keys.update(re.findall(r'"([a-z_0-9]+)"', body))
    return keys


def reference_words(man):
    start = man.index(".SH CONFIGURATION")
    section = man[start:man.index(".SH ", start + 4)]
    bold = set()
    for line in section.splitlines():
        if line.startswith(".B ") or line.startswith(".BR ") or line.startswith(".RB "):
            words = re.findall(r'"[^"]*"|\S+', line)[1:]
            # .BR/.RB alternate bold and roman: take the bold ones.
            if line.startswith(".B "):
                bold.update(words)
            else:
                first_bold = line.startswith(".BR ")
                bold.update(w for i, w in enumerate(words) if (i % 2 == 0) == first_bold)
    out = set()
    for w in bold:
        w = w.strip('"')
        if w.startswith("["):
            # Table headers: [observer], [[cluster.peers]], [services. \fINAME\fB] name keys.
            out.update(re.findall(r"[a-z_]+", w.split("\\")[0]))
        else:
            out.add(w)
    return out


def main():
    root = sys.argv[1]
    source = open(f"{root}/lib/config/loader.cc").read()
    man = open(f"{root}/packaging/man/failoverd.8").read()
    keys = loader_keys(source)
    assert len(keys) > 50, f"found only {len(keys)} keys in loader.cc: the pattern is stale"
    words = reference_words(man)
    snake = {w for w in words if re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)+|[a-z]+", w)}
    # Bold plain words that are values, not keys (kinds, modes, formats).
    values = {"http", "https", "tcp", "tls", "dns", "rfc2136", "powerdns", "haproxy", "exec",
              "auto", "propose", "logfmt", "json"}
    undocumented = sorted(keys - words)
    unknown = sorted(snake - keys - values)
    ok = True
    if undocumented:
        print("keys the loader accepts but failoverd(8) CONFIGURATION does not name:",
              " ".join(undocumented))
        ok = False
    if unknown:
        print("bold words in failoverd(8) CONFIGURATION that the loader does not accept:",
              " ".join(unknown))
        ok = False
    if ok:
        print(f"config_reference: all {len(keys)} loader keys documented; no unknown key named")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
