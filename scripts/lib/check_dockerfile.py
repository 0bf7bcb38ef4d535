#!/usr/bin/env python3
"""Check the Dockerfile against the built binary's runtime needs."""
import re
import subprocess
import sys

text = open(sys.argv[1]).read()
binary = sys.argv[2]
problems = []
stages = re.findall(r"^FROM (\S+)", text, re.M)
if stages != ["debian:bookworm-slim", "debian:bookworm-slim"]:
    problems.append("expected two stages on debian:bookworm-slim, got %r" % stages)
runtime = text[text.rindex("\nFROM "):]
if not re.search(r"^USER (?!0|root)\S+", runtime, re.M):
    problems.append("the runtime stage does not switch to a non-root user")
if not re.search(r"^EXPOSE 8080", runtime, re.M):
    problems.append("no EXPOSE 8080")
if not re.search(r'^HEALTHCHECK .*shelfcast", "healthcheck"', runtime, re.M | re.S):
    problems.append("HEALTHCHECK does not use `shelfcast healthcheck`")
if "meson setup" not in text[:text.rindex("\nFROM ")]:
    problems.append("the builder stage does not build with meson")
installed = set(re.findall(r"\b(lib[a-z0-9.+-]+)\b", runtime.split("apt-get install", 1)[1].split("&&", 1)[0]))
# Every shared library the binary needs must come from a package the runtime stage installs.
ldd = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
libs = [l.split("=>")[1].split()[0] for l in ldd.splitlines() if "=>" in l and "/" in l]
needed = set()
for lib in libs:
    r = subprocess.run(["dpkg", "-S", lib], capture_output=True, text=True)
    if r.returncode != 0:
        r = subprocess.run(["dpkg", "-S", subprocess.run(["readlink", "-f", lib], capture_output=True, text=True).stdout.strip()],
                           capture_output=True, text=True)
    pkg = r.stdout.split(":")[0].strip() if r.returncode == 0 else None
    if pkg:
        needed.add(pkg)
base = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g", "libzstd1", "liblzma5", "libselinux1", "libpcre2-8-0",
        "libgnutls30", "libp11-kit0", "libidn2-0", "libunistring2", "libtasn1-6", "libnettle8", "libhogweed6",
        "libgmp10", "libffi8", "libssl3", "libgssapi-krb5-2", "libkrb5-3", "libk5crypto3", "libcom-err2",
        "libkrb5support0", "libkeyutils1", "libldap-2.5-0", "libsasl2-2", "libgfortran5", "libquadmath0",
        "libsasl2-modules-db", "libdb5.3", "libbrotli1", "libcrypt1", "libgpg-error0", "libgcrypt20", "libbsd0", "libmd0"}
# Packages the runtime installs pull these in as dependencies; the direct ones must be listed.
direct = {"libmicrohttpd12", "libjansson4", "libpq5", "libcsv3"}
missing = {p for p in needed if p in direct and p not in installed}
blas = [p for p in needed if p.startswith("libopenblas")]
if not any(b in installed or "libopenblas0-pthread" in installed for b in blas):
    missing.update(blas)
unknown = {p for p in needed if p not in base and p not in direct and not p.startswith("libopenblas")}
if missing:
    problems.append("the runtime stage does not install %s" % sorted(missing))
if unknown:
    problems.append("the binary links packages this check does not know: %s" % sorted(unknown))
if problems:
    print("\n".join("Dockerfile: " + p for p in problems))
    sys.exit(1)
print("Dockerfile: ok (runtime packages %s cover %d linked libraries)" % (sorted(installed), len(libs)))
