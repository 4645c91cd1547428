"""Verify a validation run directory: every file against manifest.sha256, and the signature.

Usage: scripts/report-verify RUN_DIR [--allowed-signers FILE --identity NAME]
Exit 0 when nothing changed since the report was written (and the signature is good when asked),
1 otherwise. Prints every changed, missing or extra file.
"""
import argparse
import importlib.util
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = importlib.util.spec_from_file_location(
    "validation_report", os.path.join(HERE, "..", "plugins", "module_utils", "validation_report.py"))
vr = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(vr)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--allowed-signers", help="ssh allowed_signers file of the trusted signers")
    parser.add_argument("--identity", help="signer identity listed in the allowed_signers file")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if args.allowed_signers and not args.identity:
        parser.error("--allowed-signers needs --identity")
    res = vr.verify_run_dir(args.run_dir, allowed_signers=args.allowed_signers, identity=args.identity)
    if args.json:
        print(json.dumps(res, indent=2, sort_keys=True))
    else:
        if res.get("error"):
            print("ERROR %s" % res["error"])
        for label in ("changed", "missing", "extra"):
            for rel in res[label]:
                print("%s %s" % (label.upper(), rel))
        if res["signature"].get("checked"):
            print("SIGNATURE %s %s" % ("OK" if res["signature"]["ok"] else "BAD", res["signature"]["message"]))
        print("VERIFIED" if res["ok"] else "NOT VERIFIED")
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
