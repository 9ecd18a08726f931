"""skopeo as the independent check of what our client wrote to (or read from) a test registry.

`ref` arguments are relative to the RegistryServer given with them ("team/app:1.0",
"team/app@sha256:..."); without a registry they are whole skopeo image names ("oci:/tmp/x:tag").
"""

import subprocess

SKOPEO_TIMEOUT = 300


class SkopeoError(RuntimeError):
    pass


def run_skopeo(args, timeout=SKOPEO_TIMEOUT):
    """Run skopeo with `args`; return its stdout bytes, raise SkopeoError with its stderr on failure."""
    command = ["skopeo"] + list(args)
    try:
        finished = subprocess.run(command, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
                                  check=False)
    except subprocess.TimeoutExpired as exc:
        raise SkopeoError("%s timed out after %ss: %s" % (" ".join(command), timeout, exc.stderr or b"")) from None
    if finished.returncode != 0:
        raise SkopeoError("%s failed (exit %d): %s" % (
            " ".join(command), finished.returncode, finished.stderr.decode("utf-8", "replace").strip()))
    return finished.stdout


def registry_flags(registry, prefix=""):
    """TLS and credential flags for `registry`; prefix is "src-" or "dest-" for copy."""
    if registry.tls:
        flags = ["--%scert-dir=%s" % (prefix, registry.cert_dir), "--%stls-verify=true" % prefix]
    else:
        flags = ["--%stls-verify=false" % prefix]
    if registry.username:
        flags.append("--%screds=%s:%s" % (prefix, registry.username, registry.password))
    else:
        flags.append("--%sno-creds" % prefix)
    return flags


def image_name(ref, registry):
    return "docker://%s/%s" % (registry.host, ref) if registry is not None else ref


def inspect_raw(ref, registry, config=False, timeout=SKOPEO_TIMEOUT):
    """The manifest bytes exactly as the registry serves them (the config blob with config=True)."""
    args = ["inspect", "--raw"] + (["--config"] if config else []) + registry_flags(registry)
    return run_skopeo(args + [image_name(ref, registry)], timeout)


def copy(src, dst, src_registry=None, dst_registry=None, all=True, preserve_digests=True,
         timeout=SKOPEO_TIMEOUT):
    """skopeo copy; with all=True every platform of a list, with preserve_digests it fails rather
    than change a digest."""
    args = ["copy", "--quiet"]
    if all:
        args.append("--all")
    if preserve_digests:
        args.append("--preserve-digests")
    if src_registry is not None:
        args += registry_flags(src_registry, "src-")
    if dst_registry is not None:
        args += registry_flags(dst_registry, "dest-")
    run_skopeo(args + [image_name(src, src_registry), image_name(dst, dst_registry)], timeout)


def blobs_via_dir(ref, registry, directory, all=True, timeout=SKOPEO_TIMEOUT):
    """skopeo copies `ref` to `dir:directory` (every blob read from the registry, and checked by skopeo
    against its digest); returns {digest: bytes} of the blob files, each re-hashed here too."""
    import hashlib
    import os

    copy(ref, "dir:%s" % directory, src_registry=registry, all=all, timeout=timeout)
    blobs = {}
    for name in os.listdir(directory):
        if len(name) == 64 and all_hex(name):
            with open(os.path.join(directory, name), "rb") as stream:
                data = stream.read()
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            if digest != "sha256:" + name:
                raise SkopeoError("blob file %s of %s has digest %s" % (name, ref, digest))
            blobs[digest] = data
    return blobs


def all_hex(text):
    return all(character in "0123456789abcdef" for character in text)
