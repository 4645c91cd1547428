# Managed by hospital.imaging (auditd).
"""Check an audit rules file before augenrules/auditctl reads it.

Parses every line the way auditctl would need it: known options, absolute watch paths, permission
letters, known actions/lists, field names and operators, syscall names known to this kernel's
architecture tables (ausyscall), key lengths, and that -e comes last. Exit 0 when the file is
sound, 1 with one message per bad line otherwise. It never talks to the kernel, so it also works
where rules cannot be loaded (containers).
"""
import re
import shlex
import subprocess
import sys

FIELDS = {
    "a0", "a1", "a2", "a3", "arch", "auid", "devmajor", "devminor", "dir", "egid", "euid", "exe",
    "exit", "fsgid", "fstype", "fsuid", "filetype", "gid", "inode", "key", "loginuid", "msgtype",
    "obj_gid", "obj_uid", "path", "perm", "pers", "pid", "ppid", "saddr_fam", "sessionid", "sgid",
    "subj_clr", "subj_role", "subj_sen", "subj_type", "subj_user", "success", "suid", "uid",
    "obj_user", "obj_role", "obj_type", "obj_lev_low", "obj_lev_high", "k",
}
ACTIONS = {"always", "never"}
LISTS = {"exit", "task", "user", "exclude", "filesystem", "io_uring"}
ARCHES = {"b32": "i386", "b64": "x86_64"}
OPTIONS_WITH_ARG = {"-b", "-f", "-r", "-e", "--backlog_wait_time", "--loginuid-immutable"}
OPTIONS_NO_ARG = {"-D", "-i", "-c", "--reset-lost", "--loginuid-immutable"}


def syscalls(arch):
    try:
        out = subprocess.run(["ausyscall", arch, "--dump"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {line.split()[1] for line in out.splitlines()[1:] if len(line.split()) == 2}


def check_rule(tokens, tables):
    errors = []
    if tokens[0] == "-w":
        if len(tokens) < 2 or not tokens[1].startswith("/"):
            return ["-w needs an absolute path"]
        rest = tokens[2:]
        while rest:
            opt = rest.pop(0)
            if opt == "-p":
                perms = rest.pop(0) if rest else ""
                if not perms or set(perms) - set("rwxa"):
                    errors.append(f"bad permissions {perms!r} (use r, w, x, a)")
            elif opt == "-k":
                key = rest.pop(0) if rest else ""
                if not key or len(key) > 31:
                    errors.append(f"bad key {key!r} (1 to 31 characters)")
            else:
                errors.append(f"unknown option {opt!r} in a watch")
        return errors
    # -a action,list / -A list,action
    pair = tokens[1].split(",") if len(tokens) > 1 else []
    if len(pair) != 2 or not ({pair[0], pair[1]} & ACTIONS and {pair[0], pair[1]} & LISTS):
        return [f"bad action/list {tokens[1] if len(tokens) > 1 else ''!r}"]
    arch = None
    rest = tokens[2:]
    has_syscall = False
    while rest:
        opt = rest.pop(0)
        if opt == "-F":
            expr = rest.pop(0) if rest else ""
            m = re.match(r"^([a-z_0-9]+)(!=|>=|<=|&=|=|>|<|&)(.+)$", expr)
            if not m:
                errors.append(f"bad field expression {expr!r}")
                continue
            name, _operator, value = m.groups()
            if name not in FIELDS:
                errors.append(f"unknown field {name!r}")
            if name == "arch":
                arch = ARCHES.get(value, value)
            if name in ("path", "dir", "exe") and not value.startswith("/"):
                errors.append(f"{name} must be absolute: {value!r}")
            if name == "perm" and set(value) - set("rwxa"):
                errors.append(f"bad perm {value!r}")
            if name in ("key", "k") and len(value) > 31:
                errors.append(f"key longer than 31 characters: {value!r}")
        elif opt == "-S":
            has_syscall = True
            names = (rest.pop(0) if rest else "").split(",")
            table = tables.get(arch or "x86_64")
            for name in names:
                if name == "all" or name.isdigit():
                    continue
                if table is not None and name not in table:
                    errors.append(f"syscall {name!r} unknown for {arch or 'x86_64'}")
        elif opt == "-k":
            key = rest.pop(0) if rest else ""
            if not key or len(key) > 31:
                errors.append(f"bad key {key!r} (1 to 31 characters)")
        elif opt == "-C":
            rest.pop(0) if rest else None
        else:
            errors.append(f"unknown option {opt!r} in a syscall rule")
    if has_syscall and arch is None:
        errors.append("syscall rules need -F arch=b64 or -F arch=b32")
    return errors


def main(path):
    tables = {arch: syscalls(arch) for arch in ("x86_64", "i386")}
    errors = []
    seen_e = None
    count = 0
    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            try:
                tokens = shlex.split(line)
            except ValueError as exc:
                errors.append(f"line {number}: {exc}")
                continue
            if seen_e is not None:
                errors.append(f"line {number}: rules after -e (line {seen_e}) are never loaded")
            opt = tokens[0]
            if opt in ("-w", "-a", "-A"):
                count += 1
                errors.extend(f"line {number}: {msg}" for msg in check_rule(tokens, tables))
            elif opt in OPTIONS_WITH_ARG:
                if len(tokens) != 2 or not tokens[1].isdigit():
                    errors.append(f"line {number}: {opt} needs one number")
                elif opt == "-e":
                    if tokens[1] not in ("0", "1", "2"):
                        errors.append(f"line {number}: -e takes 0, 1 or 2")
                    seen_e = number
            elif opt in OPTIONS_NO_ARG:
                pass
            else:
                errors.append(f"line {number}: unknown option {opt!r}")
    for message in errors:
        print(message, file=sys.stderr)
    if not errors:
        print(f"{path}: {count} rules checked")
    return 1 if errors else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: check_audit_rules.py FILE")
    sys.exit(main(sys.argv[1]))
